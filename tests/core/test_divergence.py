"""Divergence: a non-finite loss or gradient, or exploding weights, stop the run before any checkpoint
is written from them; the message names the step and the likely cause; the CLI exits 2."""

from __future__ import annotations

import shutil

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from leyden_core.divergence import StopOnDivergence, TrainingDiverged
from leyden_core.testing import quiet_trainer
from tests.core.cli_runner import TINY, leyden


class NanLossAt(pl.LightningModule):
    """A BoringModel whose loss turns NaN at global step ``step``, with automatic or manual optimization."""

    def __init__(self, step: int, manual: bool = False) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.step_to_break = step
        self.automatic_optimization = not manual

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        if self.global_step >= self.step_to_break:
            loss = loss * float("nan")
        if self.automatic_optimization:
            return loss
        opt = self.optimizers()
        opt.zero_grad()
        self.manual_backward(loss)
        opt.step()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit(module: pl.LightningModule, callback: StopOnDivergence, tmp_path) -> None:
    data = DataLoader(TensorDataset(torch.randn(64, 4)), batch_size=4)
    quiet_trainer(
        max_steps=12, callbacks=[callback], enable_checkpointing=False, default_root_dir=tmp_path
    ).fit(module, data)


def test_a_nan_loss_stops_before_the_optimizer_step_and_names_the_step(tmp_path):
    module = NanLossAt(step=5)
    with pytest.raises(TrainingDiverged) as err:
        _fit(module, StopOnDivergence(), tmp_path)
    assert "diverged at step 5" in err.value.problem and "learning rate (0.01)" in err.value.problem
    assert (
        "layer.weight is not finite" in err.value.problem or "layer.bias is not finite" in err.value.problem
    )
    assert "gradient_clip_val" in err.value.fix
    assert all(torch.isfinite(p).all() for p in module.parameters()), "the NaN update was never applied"


def test_manual_optimization_stops_at_the_training_step_that_made_the_weights_nan(tmp_path):
    module = NanLossAt(step=5, manual=True)
    with pytest.raises(TrainingDiverged) as err:
        _fit(module, StopOnDivergence(), tmp_path)
    assert "diverged at step 6: the weights are not finite" in err.value.problem  # after optimizer step 6
    assert "gradient_clip_val" not in err.value.fix  # Lightning refuses it with manual optimization


def test_switched_off_it_lets_the_run_go_on(tmp_path):
    module = NanLossAt(step=5)
    _fit(module, StopOnDivergence(enabled=False), tmp_path)
    assert not all(torch.isfinite(p).all() for p in module.parameters())


@pytest.fixture(scope="module")
def finite_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("finite")
    result = leyden("fit", *TINY, "--trainer.max_epochs", "1", cwd=run)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def test_image_classifier_at_lr_1e6_stops_with_exit_2_and_keeps_the_last_finite_checkpoint(
    finite_run, tmp_path
):
    shutil.copytree(finite_run / "checkpoints", tmp_path / "checkpoints")
    last = tmp_path / "checkpoints" / "last.ckpt"
    before = last.read_bytes()
    result = leyden(
        "fit", *TINY, "--trainer.max_epochs", "3", "--model.lr", "1e6", "--ckpt_path", "last", cwd=tmp_path
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    problem, fix = result.stderr.strip().splitlines()[-2:]
    assert problem.startswith("leyden: error: training diverged at step ")
    assert "the learning rate (1e+06) is likely too high" in problem
    assert fix.startswith("  fix: lower the learning rate")
    assert last.read_bytes() == before, "last.ckpt still holds the last finite state"
    state = torch.load(last, weights_only=True)["state_dict"]
    assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
