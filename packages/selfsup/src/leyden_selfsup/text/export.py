"""``leyden export`` for text checkpoints: the trunk as a ``transformers`` folder.

The checkpoint names this function under ``export_with``; ``leyden export CKPT --out DIR`` calls
it. It rebuilds the trunk from the saved config, loads the checkpoint's ``net.trunk.*`` weights
(all of them, strictly) and writes ``save_pretrained`` files plus the tokenizer, so
``AutoModel.from_pretrained(DIR)`` and ``AutoTokenizer.from_pretrained(DIR)`` load them with no
missing weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leyden_selfsup.text.base import CHECKPOINT_KEY
from leyden_selfsup.text.classifier import TRUNK_PREFIX
from leyden_selfsup.text.extra import require_text_extra
from leyden_selfsup.text.tokenizer import TextTokenizer
from leyden_selfsup.text.trunks import build_trunk, config_from_dict


def export_checkpoint(checkpoint: dict[str, Any], out: str | Path) -> Path:
    """Write the checkpoint's trunk and tokenizer to the folder ``out``; returns it."""
    require_text_extra("exporting a text trunk")
    saved = checkpoint[CHECKPOINT_KEY]
    trunk = build_trunk(config_from_dict(saved["trunk_config"]))
    state = checkpoint["state_dict"]
    trunk.load_state_dict({k[len(TRUNK_PREFIX) :]: v for k, v in state.items() if k.startswith(TRUNK_PREFIX)})
    folder = Path(out)
    trunk.save_pretrained(str(folder))
    if saved.get("tokenizer"):
        TextTokenizer.from_str(saved["tokenizer"]).save(folder)
    print(
        f"wrote the {trunk.config.model_type} trunk ({trunk.num_parameters():,} parameters) and its tokenizer to {folder}"
    )
    print(f"load with: transformers.AutoModel.from_pretrained({str(folder)!r})")
    print(f"           transformers.AutoTokenizer.from_pretrained({str(folder)!r})")
    return folder
