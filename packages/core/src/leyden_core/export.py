"""``leyden export CHECKPOINT --out FILE``: a trained trunk as a plain timm ``state_dict``.

Every Leyden model keeps its representation in a :class:`~leyden_core.multihead.MultiHeadNet`,
whose trunk is the timm model itself, so stripping the ``<prefix>trunk.`` from the checkpoint's
keys gives weights that ``timm.create_model(name)`` loads with no missing trunk keys.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from leyden_core.errors import LeydenConfigError

TRUNK = "trunk."


def trunk_prefixes(state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Every ``<something>trunk.`` prefix in a checkpoint, e.g. ``net.trunk.`` (sorted, shortest first)."""
    prefixes = {key[: key.index(TRUNK) + len(TRUNK)] for key in state_dict if TRUNK in key}
    return sorted(prefixes, key=lambda p: (len(p), p))


def extract_trunk(checkpoint_path: str | Path, prefix: str | None = None) -> tuple[dict, dict]:
    """Return (trunk state_dict, hyper_parameters) from a Lightning checkpoint."""
    path = Path(checkpoint_path)
    if not path.is_file():
        raise LeydenConfigError(f"checkpoint {str(path)!r} not found", "pass the path of a .ckpt file")
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    state_dict = checkpoint.get("state_dict", checkpoint)
    prefixes = trunk_prefixes(state_dict)
    if prefix is None:
        preferred = [p for p in prefixes if p == "net.trunk."]
        if len(prefixes) == 1 or preferred:
            prefix = (preferred or prefixes)[0]
        elif not prefixes:
            raise LeydenConfigError(f"{path} holds no '*trunk.*' weights", "export a Leyden model checkpoint")
        else:
            raise LeydenConfigError(
                f"{path} holds several trunks: {', '.join(prefixes)}", "choose one with --prefix"
            )
    elif prefix not in prefixes:
        raise LeydenConfigError(f"no trunk with prefix {prefix!r}", f"choose one of {', '.join(prefixes)}")
    trunk = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    return trunk, dict(checkpoint.get("hyper_parameters", {}))


def export_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="leyden export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True, help="where to write the trunk state_dict (torch.save)")
    parser.add_argument("--prefix", default=None, help="which trunk, when a checkpoint holds several")
    args = parser.parse_args(argv)
    trunk, hparams = extract_trunk(args.checkpoint, args.prefix)
    torch.save(trunk, args.out)
    backbone = hparams.get("backbone", "<backbone name>")
    print(f"wrote {len(trunk)} tensors to {args.out}")
    if hparams.get("small_images"):
        print(
            f"load with: leyden_core.backbones.create_backbone({backbone!r}, small_images=True)"
            ".load_state_dict(torch.load(...))"
        )
    else:
        print(f"load with: timm.create_model({backbone!r}).load_state_dict(torch.load(...), strict=False)")
