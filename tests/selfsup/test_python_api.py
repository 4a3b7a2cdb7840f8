"""The Python API as docs/python-api.md shows it: SimCLR trained from plain Python, no CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import leyden_selfsup
from leyden_core.plugins import import_object
from leyden_selfsup.plugin import plugin

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def _python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(block for block in blocks if containing in block)


def test_public_classes_are_exported_lazily_and_documented():
    from leyden_selfsup import CIFAR10DataModule, ImageFolderDataModule, MoCoV2, SimCLR  # noqa: F401

    assert set(leyden_selfsup.__all__) <= set(dir(leyden_selfsup))
    for path in (*plugin.models, *plugin.datamodules):  # everything the CLI offers, from the top level
        assert getattr(leyden_selfsup, path.rpartition(".")[2]) is import_object(path)
    assert "SimCLR" in leyden_selfsup.__doc__ and "ImageFolderDataModule" in leyden_selfsup.__doc__
    with pytest.raises(AttributeError):
        leyden_selfsup.NoSuchMethod  # noqa: B018


def test_the_documented_simclr_example_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_block("SimCLR("), str(DOC), "exec"), namespace)  # noqa: S102
    trainer, model = namespace["trainer"], namespace["model"]
    assert trainer.global_step > 0 and trainer.current_epoch == 1
    metrics = trainer.callback_metrics
    assert 0.0 <= float(metrics["val/knn_acc"]) <= 1.0 and 0.0 <= float(metrics["val/probe_acc"]) <= 1.0
    assert namespace["trunk"] is model.net.trunk
