"""``leyden export CHECKPOINT --out FILE``: a trained trunk (or policy) as a plain ``state_dict``.

Every Leyden image model keeps its representation in a :class:`~leyden_core.multihead.MultiHeadNet`,
whose trunk is the timm model itself, so stripping the ``<prefix>trunk.`` from the checkpoint's
keys gives weights that ``timm.create_model(name)`` loads with no missing trunk keys.

A checkpoint that names an exporter under ``export_with`` (a dotted path to ``fn(checkpoint, out)``)
is written by it instead: text trunks go out as a ``transformers`` ``save_pretrained`` folder.

A model without a trunk (an RL method) is exported by its top-level modules instead: its only one
besides target networks (PPO's ``policy``, DQN's ``q``), or those named with ``--module``
(SAC: ``--module encoder --module actor``), with the line that loads them back.
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


def extract_trunk(
    checkpoint_path: str | Path, prefix: str | None = None, checkpoint: dict | None = None
) -> tuple[dict, dict]:
    """Return (trunk state_dict, hyper_parameters) from a Lightning checkpoint (``checkpoint`` if loaded)."""
    path = Path(checkpoint_path)
    checkpoint = load_checkpoint(path) if checkpoint is None else checkpoint
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


def load_checkpoint(checkpoint_path: str | Path) -> dict:
    path = Path(checkpoint_path)
    if not path.is_file():
        raise LeydenConfigError(f"checkpoint {str(path)!r} not found", "pass the path of a .ckpt file")
    return torch.load(path, map_location="cpu", weights_only=False)


def top_level_modules(state_dict: dict[str, torch.Tensor]) -> dict[str, int]:
    """Tensors per top-level module (``policy.nets.weights.0`` -> ``policy``), in checkpoint order."""
    counts: dict[str, int] = {}
    for key in state_dict:
        name = key.partition(".")[0]
        counts[name] = counts.get(name, 0) + 1
    return counts


def extract_modules(checkpoint: dict, names: list[str] | None, path: str) -> tuple[dict, list[str]]:
    """The state_dict of the chosen top-level modules (prefix stripped when there is one module).

    Without ``names``: the checkpoint's only module that is not a target network (``*_target``).
    """
    state_dict = checkpoint.get("state_dict", checkpoint)
    modules = top_level_modules(state_dict)
    available = ", ".join(f"{name} ({count} tensors)" for name, count in modules.items())
    if not names:
        online = [name for name in modules if not name.endswith("target")]
        if len(online) != 1:
            raise LeydenConfigError(
                f"{path} holds no trunk; its modules are {available}",
                "choose what to export with --module NAME (repeat it for several, e.g. an encoder and an actor)",
            )
        names = online
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise LeydenConfigError(f"{path} holds no module {unknown[0]!r}", f"choose among {available}")
    if len(names) == 1:
        prefix = names[0] + "."
        return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}, names
    return {k: v for k, v in state_dict.items() if k.partition(".")[0] in names}, names


def _constructor_call(hparams: dict) -> str:
    """``package.Class(arg=value, ...)`` from a LightningCLI checkpoint's hyperparameters."""
    class_path = hparams.get("_class_path", "<the model class>")
    args = ", ".join(f"{k}={v!r}" for k, v in hparams.items() if not k.startswith("_"))
    return f"{class_path}({args})"


def export_modules(checkpoint: dict, names: list[str] | None, path: str, out: str) -> None:
    state, chosen = extract_modules(checkpoint, names, path)
    torch.save(state, out)
    hparams = dict(checkpoint.get("hyper_parameters", {}))
    print(
        f"wrote {len(state)} tensors of module{'s' if len(chosen) > 1 else ''} {', '.join(chosen)} to {out}"
    )
    if len(chosen) == 1:
        print(f"load with: model = {_constructor_call(hparams)}")
        print(f"           model.{chosen[0]}.load_state_dict(torch.load({out!r}))")
    else:
        print(f"load with: model = {_constructor_call(hparams)}")
        print(f"           model.load_state_dict(torch.load({out!r}), strict=False)")


def export_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="leyden export", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--out", required=True, help="where to write the state_dict (torch.save)")
    parser.add_argument("--prefix", default=None, help="which trunk, when a checkpoint holds several")
    parser.add_argument(
        "--module", action="append", default=None,
        help="export these top-level modules instead of a trunk (e.g. policy; repeat for several)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    checkpoint = load_checkpoint(args.checkpoint)
    if "export_with" in checkpoint and not args.module and args.prefix is None:
        # a model whose trunk has its own format (a transformers model) names its exporter in the checkpoint
        from leyden_core.plugins import import_object

        return import_object(checkpoint["export_with"])(checkpoint, args.out)
    if args.module or (args.prefix is None and not trunk_prefixes(checkpoint.get("state_dict", checkpoint))):
        return export_modules(checkpoint, args.module, args.checkpoint, args.out)
    trunk, hparams = extract_trunk(args.checkpoint, args.prefix, checkpoint)
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
