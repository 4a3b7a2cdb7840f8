"""Lazy top-level exports (PEP 562): ``from leyden_rl import PPO`` imports only what it names.

A plugin's package is imported by plugin discovery and by ``leyden plugins``, which must stay
instant; its public classes pull in torch, Lightning and gymnasium. So a package lists its exports
as ``name -> module`` and each is imported on first access.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for module ``package`` that import ``exports[name]`` on first use."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name]), name)
        setattr(importlib.import_module(package), name, value)  # later accesses skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted({*exports, *vars(importlib.import_module(package))})

    return __getattr__, __dir__


def exports_of(*paths: str) -> dict[str, str]:
    """``{"ClassName": "package.module"}`` for import paths ``"package.module.ClassName"`` (a plugin's
    models and datamodules), so a package exports everything its plugin registers."""
    return {path.rpartition(".")[2]: path.rpartition(".")[0] for path in paths}
