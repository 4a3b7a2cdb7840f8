"""AdaBN: BatchNorm statistics re-estimated on target images, exactly, weights untouched."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_sim.adabn import AdaBN, adapt_batchnorm
from leyden_sim.dann import DANN
from leyden_sim.datamodules import SynDigitsDataModule, digits_randomization


def test_adapt_batchnorm_sets_exact_target_statistics_and_keeps_modes():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4))
    model.eval()
    weights = model[0].weight.clone()
    images = torch.randn(10, 1, 6, 6) * 3 + 2
    adapt_batchnorm(model, images)
    activations = model[0](images)
    torch.testing.assert_close(model[1].running_mean, activations.mean((0, 2, 3)))
    torch.testing.assert_close(model[1].running_var, activations.var((0, 2, 3)), rtol=1e-4, atol=1e-4)
    assert not model.training and not model[1].training and model[1].momentum == 0.1
    assert torch.equal(model[0].weight, weights)
    adapt_batchnorm(model, images, batch_size=5)  # two equal batches: the means still match
    torch.testing.assert_close(model[1].running_mean, activations.mean((0, 2, 3)))


def test_adapt_batchnorm_rejects_a_model_without_batchnorm():
    with pytest.raises(LeydenConfigError):
        adapt_batchnorm(nn.Linear(2, 2), torch.zeros(1, 2))


def test_dann_with_per_domain_bn_and_adabn_callback_trains_and_tests():
    torch.manual_seed(0)
    model = DANN(discriminator_width=16, per_domain_bn=True)
    data = SynDigitsDataModule(
        digits_randomization(), length=32, with_target=True, image_size=8, batch_size=16
    )
    trainer = quiet_trainer(
        max_steps=2, enable_checkpointing=False, limit_val_batches=1, callbacks=[AdaBN(batch_size=None)]
    )
    trainer.fit(model, datamodule=data)
    assert torch.isfinite(trainer.callback_metrics["train/domain_loss"])
    accuracy = trainer.test(model, datamodule=data, verbose=False)[0]["test/acc"]
    bn = next(m for m in model.modules() if isinstance(m, nn.BatchNorm2d))
    first = model.net.trunk.features[0](data.target.tensors[0])  # the first BN sees the first conv's output
    torch.testing.assert_close(bn.running_mean, first.mean((0, 2, 3)), rtol=1e-4, atol=1e-5)
    assert 0.0 <= accuracy <= 1.0
