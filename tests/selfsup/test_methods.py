"""Every registered method: trains a few steps on digits, stays finite, round-trips a checkpoint, gives the
same weights twice from one seed, and resumed from an epoch boundary continues its step count."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.callbacks import RNGStateCheckpoint
from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import import_object
from leyden_core.testing import quiet_trainer
from leyden_selfsup.plugin import METHODS, plugin
from leyden_selfsup.semisup_data import LabeledUnlabeledDataModule

TINY = {"backbone": "leyden_tiny_cnn", "image_size": 16}
EXTRA = {
    "MoCoV2": {"queue_size": 64},
    "MoCoV3": {"hidden_dim": 64, "projection_dim": 32},
    "Jigsaw": {"num_permutations": 10, "hidden_dim": 32},
    "NoisyStudent": {"rounds": 1, "epochs_per_round": 1, "labeled_batch_size": 8},
    "BYOL": {"hidden_dim": 64, "projection_dim": 32},
    "DINO": {"out_dim": 64, "hidden_dim": 64, "bottleneck_dim": 16, "local_crops": 2, "local_size": 8},
    "BarlowTwins": {"projection_dim": 64, "projection_hidden_dim": 64},
    "VICReg": {"projection_dim": 64, "projection_hidden_dim": 64},
    "MAE": {"backbone": "vit_tiny_patch16_224", "backbone_kwargs": {"depth": 2}, "decoder_depth": 1},
    "FixMatch": {"optimizer": "adamw", "lr": 1e-3, "confidence_threshold": 0.5},
}


def _build(path: str) -> pl.LightningModule:
    name = path.rpartition(".")[2]
    return import_object(path)(**{**TINY, **EXTRA.get(name, {})})


def _trainer(tmp_path, max_epochs: int = 2, **kwargs) -> pl.Trainer:
    return quiet_trainer(
        max_epochs=max_epochs,
        limit_train_batches=2,
        limit_val_batches=1,
        default_root_dir=tmp_path,
        **kwargs,
    )


def _digits(method: str = "") -> pl.LightningDataModule:
    if method == "FixMatch":  # labeled and unlabeled batches side by side
        labeled = DigitsDataModule(image_size=16, batch_size=32, labeled_fraction=0.1)
        return LabeledUnlabeledDataModule(labeled, batch_size=8, unlabeled_ratio=3)
    return DigitsDataModule(image_size=16, batch_size=32, train_on="all", labeled_fraction=0.5)


def test_plugin_registers_every_method_and_datamodule() -> None:
    assert set(METHODS) <= set(plugin.models)
    for path in (*plugin.models, *plugin.datamodules):
        assert isinstance(import_object(path), type)


@pytest.mark.parametrize("path", METHODS, ids=lambda p: p.rpartition(".")[2])
def test_method_trains_without_nan_and_round_trips_a_checkpoint(path: str, tmp_path) -> None:
    model = _build(path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = _trainer(tmp_path)
    trainer.fit(model, _digits(type(model).__name__))
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    state = model.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert any(
        not torch.equal(before[k], state[k]) for k in before if k.startswith("net.trunk.")
    )  # it learned
    checkpoint = tmp_path / "model.ckpt"
    trainer.save_checkpoint(checkpoint)
    restored = type(model).load_from_checkpoint(checkpoint, weights_only=False)
    for key, value in state.items():
        torch.testing.assert_close(restored.state_dict()[key], value, msg=key)
    images = torch.rand(4, 3, 16, 16)
    model.eval(), restored.eval()
    torch.testing.assert_close(restored.net.features(images), model.net.features(images))


def test_online_probe_and_knn_are_logged_and_probe_weights_restored(tmp_path) -> None:
    model = _build(METHODS[0])
    trainer = _trainer(tmp_path, max_epochs=1)
    trainer.fit(model, _digits())
    assert 0.0 <= float(trainer.callback_metrics["val/probe_acc"]) <= 1.0
    assert 0.0 <= float(trainer.callback_metrics["val/knn_acc"]) <= 1.0
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    state = torch.load(tmp_path / "m.ckpt", weights_only=False)["state_dict"]
    assert any(key.startswith("probe.linear.") for key in state)
    optimizer = torch.load(tmp_path / "m.ckpt", weights_only=False)["optimizer_states"][0]
    assert len(optimizer["param_groups"]) == 3  # decayed, not decayed, probe


@pytest.mark.parametrize("optimizer", ["lars", "sgd"])
def test_simclr_with_lars_or_sgd_and_warmup(optimizer: str, tmp_path) -> None:
    model = import_object(METHODS[0])(**TINY, optimizer=optimizer, lr=0.3, warmup_epochs=1)
    trainer = _trainer(tmp_path, max_epochs=2)
    trainer.fit(model, _digits())
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert trainer.optimizers[0].param_groups[0]["lr"] < 0.3  # cosine has decayed after warmup


def test_bad_method_arguments_raise_config_errors() -> None:
    with pytest.raises(LeydenConfigError, match="optimizer"):
        import_object(METHODS[0])(**TINY, optimizer="adam_typo")
    with pytest.raises(LeydenConfigError, match="batchnorm"):
        import_object("leyden_selfsup.moco_v2.MoCoV2")(**TINY, batchnorm="nope")
    with pytest.raises(LeydenConfigError, match="image_size"):
        import_object("leyden_selfsup.jigsaw.Jigsaw")(backbone="leyden_tiny_cnn", image_size=9)
    with pytest.raises(LeydenConfigError, match="unknown backbone"):
        import_object(METHODS[0])(backbone="resnet_eighteen")


def _fit(path: str, tmp_path, epochs: int, ckpt_path=None) -> tuple[pl.LightningModule, pl.Trainer]:
    pl.seed_everything(0, verbose=False)
    model = _build(path)
    trainer = _trainer(tmp_path, max_epochs=epochs, callbacks=[RNGStateCheckpoint()])
    trainer.fit(model, _digits(type(model).__name__), ckpt_path=ckpt_path)
    return model, trainer


def _assert_same_weights(a: pl.LightningModule, b: pl.LightningModule) -> None:
    for (key, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, msg=key)


@pytest.mark.parametrize("path", METHODS, ids=lambda p: p.rpartition(".")[2])
def test_method_is_reproducible_and_resumes_from_an_epoch_boundary(path: str, tmp_path) -> None:
    straight, _ = _fit(path, tmp_path / "a", epochs=2)
    again, _ = _fit(path, tmp_path / "b", epochs=2)
    _assert_same_weights(straight, again)  # same seed, same run
    if path.endswith("NoisyStudent"):
        return  # its epochs are fixed by its rounds: test_noisy_student.py resumes it mid-run
    _fit(path, tmp_path / "c", epochs=1)
    (checkpoint,) = (tmp_path / "c").rglob("*.ckpt")  # written by the trainer at the end of the epoch
    saved = torch.load(checkpoint, weights_only=False)["state_dict"]
    resumed, trainer = _fit(path, tmp_path / "d", epochs=2, ckpt_path=checkpoint)
    assert trainer.global_step == 4  # continued from step 2, did not start over
    state = resumed.state_dict()
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert any(not torch.equal(saved[k], state[k]) for k in saved if k.startswith("net.trunk."))
