"""leyden_core's top-level Python API: lazy exports, a useful docstring, and discovery that stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

import leyden_core
from leyden_core.plugins import CORE_PLUGIN, import_object


def test_public_names_are_exported_from_the_top_level():
    from leyden_core import DigitsDataModule, ImageClassifier, LeydenConfigError, create_backbone  # noqa: F401

    for path in (*CORE_PLUGIN.models, *CORE_PLUGIN.datamodules):
        assert getattr(leyden_core, path.rpartition(".")[2]) is import_object(path)
    assert set(leyden_core.__all__) <= set(dir(leyden_core))
    assert "ImageClassifier" in leyden_core.__doc__ and "create_backbone" in leyden_core.__doc__
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        leyden_core.Nope  # noqa: B018


def test_importing_the_packages_and_listing_plugins_does_not_import_torch():
    code = (
        "import sys, leyden_core, importlib.metadata as md\n"
        "from leyden_core.cli import main\n"
        "for ep in md.entry_points(group='leyden.plugins'): __import__(ep.module.split('.')[0])\n"
        "main(['plugins'])\n"
        "print('heavy:', sorted(m for m in ('torch', 'lightning', 'gymnasium', 'timm') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "heavy: []" in out
