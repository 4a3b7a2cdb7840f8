"""RL²'s pieces (task family, policy, auxiliary losses) as plain data and back.

A config names a piece as ``{"class_path": ..., "init_args": {...}}`` (jsonargparse's form); RL2 keeps
that form in its hyperparameters, so a checkpoint holds only plain data (it loads with
``weights_only=True``) and ``RL2.load_from_checkpoint`` rebuilds the same pieces.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from functools import partial
from typing import Any


def describe(piece: Any) -> dict[str, Any]:
    """``{"class_path", "init_args"}`` of a dataclass instance, a class, or a ``partial`` of a class."""
    if isinstance(piece, dict):
        return piece
    if isinstance(piece, partial):  # jsonargparse's factories are partial(<instantiators>, cls, **init_args)
        cls = next((arg for arg in reversed(piece.args) if inspect.isclass(arg)), piece.func)
        init_args = dict(piece.keywords)
    elif inspect.isclass(piece):
        cls, init_args = piece, {}
    elif dataclasses.is_dataclass(piece):
        cls = type(piece)
        init_args = {f.name: getattr(piece, f.name) for f in dataclasses.fields(piece) if f.init}
    else:
        raise TypeError(
            f"cannot describe {piece!r}: pass a dataclass instance, a class, or a partial of a class"
        )
    return {"class_path": import_path(cls), "init_args": {k: _plain(v) for k, v in init_args.items()}}


def instantiate(description: Any, factory: bool = False) -> Any:
    """The piece a description names (a ``partial`` of the class with ``factory``); anything else as is."""
    if not isinstance(description, dict) or "class_path" not in description:
        return description
    cls = import_object(description["class_path"])
    init_args = description.get("init_args") or {}
    return partial(cls, **init_args) if factory else cls(**init_args)


def import_path(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def import_object(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _plain(value: Any) -> Any:
    if callable(value):
        return import_path(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value
