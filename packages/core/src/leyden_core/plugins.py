"""Plugin discovery through the ``leyden.plugins`` entry-point group.

A plugin distribution declares, in its ``pyproject.toml``::

    [project.entry-points."leyden.plugins"]
    selfsup = "leyden_selfsup.plugin:plugin"

where ``plugin`` is a :class:`LeydenPlugin` (in a module that imports nothing heavy, so that
``leyden plugins`` is instant). The CLI imports every model and datamodule listed, which is what
lets it resolve short class names (``--model SimCLR``): jsonargparse finds subclasses of
``LightningModule`` among the imported classes.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

ENTRY_POINT_GROUP = "leyden.plugins"


@dataclass(frozen=True)
class LeydenPlugin:
    """What a plugin provides, as import paths (``"package.module.ClassName"``)."""

    name: str
    models: tuple[str, ...] = ()
    datamodules: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoadedPlugin:
    plugin: LeydenPlugin
    distribution: str
    version: str


def import_object(path: str) -> type:
    module_name, _, attr = path.rpartition(".")
    return getattr(importlib.import_module(module_name), attr)


def load_plugins() -> list[LoadedPlugin]:
    """Every installed plugin's description, sorted by entry-point name.

    Called inside ``main()`` rather than at import time, so that DDP child processes (which re-run
    the command line) discover the same plugins as the launching process.
    """
    loaded = []
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        plugin = entry_point.load()
        if not isinstance(plugin, LeydenPlugin):
            raise TypeError(
                f"entry point {entry_point.name!r} in group {ENTRY_POINT_GROUP!r} must point to a "
                f"leyden_core.plugins.LeydenPlugin, got {type(plugin).__name__}"
            )
        dist = entry_point.dist
        loaded.append(
            LoadedPlugin(
                plugin=plugin,
                distribution=dist.name if dist else "?",
                version=dist.version if dist else "?",
            )
        )
    return loaded


CORE_PLUGIN = LeydenPlugin(
    name="core",
    models=("leyden_core.models.ImageClassifier",),
    datamodules=("leyden_core.data.DigitsDataModule",),
)
