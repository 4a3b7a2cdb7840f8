"""Leyden core: the `leyden` CLI, plugin discovery, W&B logging, backbones and bundled data."""

__version__ = "0.1.0"
