"""Gradient reversal, the λ schedule, the losses, and short DANN training runs."""

from __future__ import annotations

import math

import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_sim.dann import DANN
from leyden_sim.datamodules import SynDigitsDataModule, digits_randomization
from leyden_sim.grl import dann_lambda, grad_reverse
from leyden_sim.losses import domain_accuracy, domain_adversarial_loss, domain_confusion_loss


def test_gradient_reversal_sign_and_scale():
    x = torch.randn(5, 3, requires_grad=True)
    y = grad_reverse(x, 0.25)
    torch.testing.assert_close(y, x)
    (y * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(x.grad, -0.25 * torch.arange(3.0).expand(5, 3))


def test_lambda_schedule_values():
    assert dann_lambda(0.0) == 0.0
    assert dann_lambda(1.0) == pytest.approx(2 / (1 + math.exp(-10)) - 1)
    assert dann_lambda(0.1) == pytest.approx(2 / (1 + math.exp(-1)) - 1)  # 0.4621
    assert dann_lambda(0.5) == pytest.approx(0.98661, abs=1e-5)
    assert dann_lambda(2.0) == dann_lambda(1.0)  # progress is clipped to [0, 1]


def test_losses():
    confident = torch.tensor([10.0, 10.0]), torch.tensor([-10.0, -10.0])
    assert domain_adversarial_loss(*confident) < 1e-3
    assert domain_accuracy(*confident) == 1.0
    chance = torch.zeros(2), torch.zeros(2)
    assert domain_adversarial_loss(*chance) == pytest.approx(math.log(2))
    # confusion is minimal at chance and larger when the discriminator is sure
    assert domain_confusion_loss(*chance) < domain_confusion_loss(*confident)


def _fit(model, max_steps=4, **trainer_kwargs):
    data = SynDigitsDataModule(
        digits_randomization(), length=64, with_target=True, image_size=8, batch_size=16
    )
    trainer = quiet_trainer(
        max_steps=max_steps,
        enable_checkpointing=False,
        limit_val_batches=1,
        num_sanity_val_steps=0,
        **trainer_kwargs,
    )
    trainer.fit(model, datamodule=data)
    return trainer, data


@pytest.mark.parametrize("objective", ["dann", "confusion"])
def test_dann_training_step_updates_and_logs(objective):
    torch.manual_seed(0)
    model = DANN(objective=objective, discriminator_width=16)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer, data = _fit(model)
    metrics = trainer.callback_metrics
    assert {"train/class_loss", "train/domain_loss", "train/domain_acc", "train/lambda"} <= set(metrics)
    assert 0.0 < float(metrics["train/lambda"]) < 1.0  # λ follows the trainer's progress
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())
    changed = [
        k for k, v in model.state_dict().items() if v.is_floating_point() and not torch.equal(v, before[k])
    ]
    assert any(k.startswith("net.trunk") for k in changed) and any(
        k.startswith("net.heads.domain") for k in changed
    )
    accuracy = trainer.test(model, datamodule=data, verbose=False)[0]["test/acc"]
    assert 0.0 <= accuracy <= 1.0


def test_source_only_path_needs_no_target():
    model = DANN(domain_weight=0.0, discriminator_width=16)
    data = SynDigitsDataModule(length=32, image_size=8, batch_size=16)
    trainer = quiet_trainer(
        max_steps=2,
        enable_checkpointing=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["train/class_loss"])
    assert "train/domain_loss" not in trainer.callback_metrics


def test_label_smoothing_penalizes_certainty():
    logits, labels = torch.tensor([[20.0, 0.0, 0.0]]), torch.tensor([0])
    plain = DANN(num_classes=3, discriminator_width=16).class_loss(logits, labels)
    smoothed = DANN(num_classes=3, discriminator_width=16, label_smoothing=0.3).class_loss(logits, labels)
    assert plain < 1e-6 and smoothed == pytest.approx(0.2 * 20, rel=1e-3)  # (ε·(K−1)/K) × logit gap


def test_backbone_kwargs_reach_the_trunk():
    assert DANN(backbone_kwargs={"width": 8}, discriminator_width=16).net.feature_dim == 16
    assert DANN(discriminator_width=16).net.feature_dim == 64  # leyden_tiny_cnn's default width 32


def test_mixup_source_only_trains_and_dann_rejects_it():
    torch.manual_seed(0)
    model = DANN(domain_weight=0.0, discriminator_width=16, mixup_alpha=0.4)
    before = [p.detach().clone() for p in model.net.trunk.parameters()]
    data = SynDigitsDataModule(length=32, image_size=8, batch_size=16)
    quiet_trainer(max_steps=2, enable_checkpointing=False, limit_val_batches=0).fit(model, datamodule=data)
    assert torch.isfinite(model.trainer.callback_metrics["train/class_loss"])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.net.trunk.parameters()))
    with pytest.raises(LeydenConfigError, match="mixup"):
        DANN(domain_weight=0.3, mixup_alpha=0.4)


def test_dann_checkpoint_round_trip(tmp_path):
    model = DANN(discriminator_width=16)
    trainer, _ = _fit(model, max_steps=2)
    path = tmp_path / "dann.ckpt"
    trainer.save_checkpoint(path)
    restored = DANN.load_from_checkpoint(path)
    x = torch.rand(3, 1, 8, 8)
    model.eval(), restored.eval()
    torch.testing.assert_close(model(x), restored(x))


def test_dann_rejects_bad_input():
    with pytest.raises(LeydenConfigError):
        DANN(objective="mmd")
    with pytest.raises(LeydenConfigError):
        DANN().training_step((torch.rand(2, 1, 8, 8), torch.zeros(2)), 0)
