"""Tobin-style localization: the loss, the regressor, and the example config through `leyden fit`."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from leyden_core.cli import main
from leyden_sim.datamodules import TobinLocalizationDataModule
from leyden_sim.losses import localization_loss

EXAMPLE = Path(__file__).parents[2] / "examples" / "sim" / "tobin_localization.yaml"


def test_localization_loss_zero_at_the_truth_and_weights_the_class_term():
    positions = torch.tensor([[0.2, 0.7], [0.5, 0.5]])
    logits = torch.tensor([[20.0, -20.0], [-20.0, 20.0]])
    shapes = torch.tensor([0, 1])
    assert localization_loss(positions, positions, logits, shapes, 1.0) < 1e-6
    off = positions + torch.tensor([0.3, 0.4])  # distance 0.5 for both items → squared error 0.25
    torch.testing.assert_close(localization_loss(off, positions, logits, shapes, 0.0), torch.tensor(0.25))
    wrong = localization_loss(positions, positions, logits, shapes.flip(0), 0.5)
    torch.testing.assert_close(wrong, torch.tensor(20.0), atol=1e-4, rtol=0)  # 0.5 × CE of 40 logits


def test_datamodule_validates_on_unseen_renders():
    data = TobinLocalizationDataModule(length=8, val_length=4, image_size=16, batch_size=4)
    data.setup("fit")
    images, positions, shapes = next(iter(data.train_dataloader()))
    assert images.shape == (4, 3, 16, 16) and positions.shape == (4, 2) and shapes.shape == (4,)
    assert not torch.equal(data.train.tensors[0][:4], data.val.tensors[0])


def test_example_config_trains_through_leyden_fit_and_the_loss_falls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    main(
        [
            "fit",
            "--config",
            str(EXAMPLE),
            "--data.length=64",
            "--data.val_length=16",
            "--data.image_size=16",
            "--data.batch_size=16",
            "--trainer.max_epochs=6",
            "--trainer.log_every_n_steps=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.logger=CSVLogger",
            f"--trainer.logger.save_dir={tmp_path}",
            f"--trainer.default_root_dir={tmp_path}",
        ]
    )
    rows = list(csv.DictReader(next(tmp_path.rglob("metrics.csv")).open()))
    losses = [float(r["train/loss"]) for r in rows if r.get("train/loss")]
    errors = [float(r["val/position_error"]) for r in rows if r.get("val/position_error")]
    assert len(losses) == 24 and len(errors) == 6
    assert sum(losses[-4:]) < 0.8 * sum(losses[:4])
    assert all(0.0 <= e < 1.5 for e in errors)
    assert (tmp_path / "checkpoints" / "last.ckpt").exists()
