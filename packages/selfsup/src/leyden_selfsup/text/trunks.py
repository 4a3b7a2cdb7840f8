"""Text trunks: Hugging Face ``transformers`` GPT-2 and BERT models inside a multi-head network.

A trunk is built from a config (any size, randomly initialised: nothing is downloaded) or loaded
from a local folder (``from_pretrained``). Attention runs through PyTorch's scaled-dot-product
kernel (``attn_implementation="sdpa"``). The trunk is the ``transformers`` model itself, so its
``state_dict`` keys are that model's and ``save_pretrained`` writes it unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from leyden_core.checks import check_choice
from leyden_core.errors import LeydenConfigError
from leyden_core.multihead import MultiHeadNet
from leyden_selfsup.text.extra import require_text_extra

ARCHS = ("gpt2", "bert")
POOLINGS = ("mean", "first", "last")
ATTENTION = "sdpa"


def trunk_config(
    arch: str,
    vocab_size: int,
    block_size: int,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    dropout: float,
) -> Any:
    """A ``GPT2Config`` or ``BertConfig`` (4x-wide MLPs, GELU, as in the papers)."""
    require_text_extra(f"a {arch} trunk")
    from transformers import BertConfig, GPT2Config

    check_choice("arch", arch, ARCHS)
    if hidden_size % num_heads:
        raise LeydenConfigError(
            f"hidden_size {hidden_size} is not a multiple of num_heads {num_heads}",
            f"e.g. hidden_size: {num_heads * 64}",
        )
    if arch == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size, n_positions=block_size, n_embd=hidden_size, n_layer=num_layers,
            n_head=num_heads, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
            bos_token_id=None, eos_token_id=None,
        )  # fmt: skip
    return BertConfig(
        vocab_size=vocab_size, max_position_embeddings=block_size, hidden_size=hidden_size,
        num_hidden_layers=num_layers, num_attention_heads=num_heads, intermediate_size=4 * hidden_size,
        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout,
    )  # fmt: skip


def config_from_dict(values: dict[str, Any]) -> Any:
    """The config a checkpoint stored with ``config.to_dict()``."""
    require_text_extra("a text trunk")
    from transformers import AutoConfig

    config_class = type(AutoConfig.for_model(values["model_type"]))
    return config_class.from_dict(dict(values))


def build_trunk(config: Any) -> nn.Module:
    """A randomly initialised ``GPT2Model`` / ``BertModel`` (with BERT's pooler) from ``config``."""
    from transformers import AutoModel

    return AutoModel.from_config(config, attn_implementation=ATTENTION)


def load_trunk(path: str | Path) -> nn.Module:
    """A trunk saved with ``save_pretrained`` in a local folder (``leyden export`` writes one)."""
    require_text_extra("loading a text trunk")
    from transformers import AutoModel

    folder = Path(path).expanduser()
    if not (folder / "config.json").is_file():
        raise LeydenConfigError(
            f"no transformers model at {folder.resolve()} (no config.json)",
            "pass a folder written by save_pretrained or `leyden export`, or a Leyden .ckpt file",
        )
    return AutoModel.from_pretrained(str(folder), attn_implementation=ATTENTION)


def transformer_blocks(trunk: nn.Module) -> nn.ModuleList:
    """The trunk's transformer layers, bottom first (GPT-2's ``h``, BERT's ``encoder.layer``)."""
    return trunk.h if hasattr(trunk, "h") else trunk.encoder.layer


def token_embedding(trunk: nn.Module) -> nn.Embedding:
    return trunk.get_input_embeddings()


class TextMultiHeadNet(MultiHeadNet):
    """:class:`~leyden_core.multihead.MultiHeadNet` over a ``transformers`` trunk.

    ``features`` are the last hidden states ``(batch, tokens, hidden)``; ``pooled`` reduces them to
    one vector per sequence for a classification head. The feature width is the config's
    ``hidden_size`` (a dry forward with images, as image trunks are measured, does not apply).
    """

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module] | None = None) -> None:
        nn.Module.__init__(self)
        self.trunk = trunk
        self.feature_dim = trunk.config.hidden_size
        self.heads = nn.ModuleDict(heads or {})

    def features(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
    ) -> torch.Tensor:
        extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
        return self.trunk(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    def forward(self, input_ids: torch.Tensor, head: str, **inputs: torch.Tensor) -> torch.Tensor:
        return self.heads[head](self.features(input_ids, **inputs))


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per sequence: the mean over real tokens, the first token ([CLS]) or the last real one."""
    if how == "first":
        return hidden[:, 0]
    if how == "last":
        last = attention_mask.sum(1) - 1
        return hidden[torch.arange(len(hidden), device=hidden.device), last]
    weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp_min(1.0)
