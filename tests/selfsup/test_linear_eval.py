"""Linear evaluation and fine-tuning start from a pretraining checkpoint's trunk."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_selfsup.linear_eval import LinearEval
from leyden_selfsup.rotnet import RotNet


def _trainer(tmp_path) -> pl.Trainer:
    return quiet_trainer(
        max_epochs=1,
        limit_train_batches=3,
        limit_val_batches=1,
        default_root_dir=tmp_path,
    )


@pytest.mark.parametrize("finetune", [False, True])
def test_linear_eval_loads_the_pretrained_trunk(finetune: bool, tmp_path) -> None:
    pretrained = RotNet(backbone="leyden_tiny_cnn", image_size=16)
    trainer = _trainer(tmp_path)
    trainer.fit(pretrained, DigitsDataModule(image_size=16, batch_size=32, train_on="all"))
    trainer.save_checkpoint(tmp_path / "pre.ckpt")

    model = LinearEval(str(tmp_path / "pre.ckpt"), finetune=finetune, augment={"crop_scale": (0.8, 1.0)})
    for key, value in pretrained.net.trunk.state_dict().items():
        torch.testing.assert_close(model.net.trunk.state_dict()[key], value)
    trunk_before = {k: v.clone() for k, v in model.net.trunk.state_dict().items()}
    trainer = _trainer(tmp_path)
    trainer.fit(model, DigitsDataModule(image_size=16, batch_size=32, labeled_fraction=0.1))
    assert 0.0 <= float(trainer.callback_metrics["val/acc"]) <= 1.0
    changed = any(not torch.equal(trunk_before[k], v) for k, v in model.net.trunk.state_dict().items())
    assert changed == finetune  # a frozen trunk keeps weights and BatchNorm statistics


def test_missing_or_foreign_checkpoint_is_a_config_error(tmp_path) -> None:
    with pytest.raises(LeydenConfigError, match="checkpoint not found"):
        LinearEval(str(tmp_path / "nope.ckpt"))
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hyper_parameters": {}}, tmp_path / "foreign.ckpt")
    with pytest.raises(LeydenConfigError, match="not a Leyden pretraining checkpoint"):
        LinearEval(str(tmp_path / "foreign.ckpt"))
