"""Every model the plugin registers: forward, backward, no NaN, checkpoint round trip."""

from __future__ import annotations

import importlib

import lightning.pytorch as pl
import pytest
import torch

from leyden_sim.plugin import plugin


def _import(path: str) -> type:
    module, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("path", plugin.models)
def test_every_registered_model_forward_backward_and_checkpoint(path, tmp_path):
    torch.manual_seed(0)
    model = _import(path)(in_chans=1)
    out = model(torch.rand(4, 1, 8, 8))
    out.sum().backward()
    assert out.shape[0] == 4 and torch.isfinite(out).all()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    trainer = pl.Trainer(accelerator="cpu", logger=False, max_epochs=0)
    trainer.strategy.connect(model)
    trainer.save_checkpoint(tmp_path / "model.ckpt")
    restored = type(model).load_from_checkpoint(tmp_path / "model.ckpt")
    model.eval(), restored.eval()
    x = torch.rand(2, 1, 8, 8)
    torch.testing.assert_close(model(x), restored(x))


@pytest.mark.parametrize("path", plugin.datamodules)
def test_every_registered_datamodule_imports(path):
    assert issubclass(_import(path), pl.LightningDataModule)
