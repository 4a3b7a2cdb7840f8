"""Noisy Student: rounds advance at the right epochs, and the round and teacher live in the checkpoint."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_selfsup.noisy_student import NoisyStudent


def _model(**kwargs) -> NoisyStudent:
    return NoisyStudent(
        backbone="leyden_tiny_cnn",
        image_size=16,
        rounds=2,
        epochs_per_round=1,
        labeled_batch_size=8,
        confidence_threshold=0.0,
        **kwargs,
    )


def _trainer(tmp_path, **kwargs) -> pl.Trainer:
    return quiet_trainer(
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _digits() -> DigitsDataModule:
    return DigitsDataModule(image_size=16, batch_size=32, train_on="all", labeled_fraction=0.1)


def test_rounds_teacher_and_pseudo_label_stats_are_checkpointed_and_resumed(tmp_path) -> None:
    checkpoints = ModelCheckpoint(dirpath=tmp_path / "ckpt", save_top_k=-1, every_n_epochs=1)
    trainer = _trainer(tmp_path, callbacks=[checkpoints])
    model = _model(pseudo_labels="soft")
    trainer.fit(model, _digits())
    assert model.round.item() == 2
    assert 0.0 <= float(trainer.callback_metrics["round/pseudo_label_acc"]) <= 1.0
    assert float(trainer.callback_metrics["round/pseudo_label_coverage"]) == 1.0  # threshold 0: all confident
    first = torch.load(tmp_path / "ckpt" / "epoch=0-step=2.ckpt", weights_only=False)
    state = first["state_dict"]
    assert state["round"].item() == 1
    student_keys = [k for k in state if k.startswith("net.")]
    assert any(not torch.equal(state[k], state["teacher." + k[4:]]) for k in student_keys)  # fresh student

    resumed_model = _model(pseudo_labels="soft")
    resumed = _trainer(tmp_path)
    resumed.fit(resumed_model, _digits(), ckpt_path=tmp_path / "ckpt" / "epoch=0-step=2.ckpt")
    assert resumed_model.round.item() == 2
    assert resumed.global_step == 6  # continued: 2 more epochs of 2 steps after the first


def test_wrong_epoch_budget_is_a_config_error(tmp_path) -> None:
    trainer = quiet_trainer(
        max_epochs=2,
        limit_train_batches=1,
        default_root_dir=tmp_path,
    )
    with pytest.raises(LeydenConfigError, match="max_epochs: 3"):
        trainer.fit(_model(), _digits())


def test_cosine_schedule_restarts_with_every_student(tmp_path) -> None:
    rates: list[float] = []

    class RecordLearningRate(pl.Callback):
        def on_train_batch_start(self, trainer, *_) -> None:
            rates.append(trainer.optimizers[0].param_groups[0]["lr"])

    _trainer(tmp_path, callbacks=[RecordLearningRate()]).fit(_model(lr_schedule="cosine"), _digits())
    assert rates[0] == rates[2] == rates[4] == pytest.approx(1e-3)  # every round starts at the full rate
    assert rates[1] == rates[3] == rates[5] == pytest.approx(0.5e-3)  # half-way down its cosine
