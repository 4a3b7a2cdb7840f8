"""Throughput logging, and the one-version rule of the monorepo."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import tomllib
import torch
from torch.utils.data import DataLoader, TensorDataset

import leyden_core
from leyden_core.callbacks import ThroughputMonitor, batch_size_of
from leyden_core.testing import quiet_trainer

REPO = Path(__file__).resolve().parents[2]


class _CountsEnvSteps(pl.LightningModule):
    """A BoringModel that, like an RL method, reports environment steps it collected."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.env_steps = 0

    def training_step(self, batch, batch_idx):
        self.env_steps += 8
        return self.layer(batch[0]).pow(2).mean()

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def test_throughput_monitor_logs_samples_and_env_steps_per_second(tmp_path):
    module = _CountsEnvSteps()
    trainer = quiet_trainer(
        max_steps=6,
        log_every_n_steps=3,
        callbacks=[ThroughputMonitor()],
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(module, DataLoader(TensorDataset(torch.randn(24, 4)), batch_size=4))
    metrics = trainer.callback_metrics
    assert metrics["throughput/samples_per_s"] > 0 and metrics["throughput/env_steps_per_s"] > 0


def test_batch_size_of_nested_batches():
    assert batch_size_of((torch.zeros(5, 2), torch.zeros(5))) == 5
    assert batch_size_of({"obs": torch.zeros(3, 1)}) == 3
    assert batch_size_of([]) == 0


def test_one_version_for_all_distributions_and_plugins_pin_core():
    versions = {}
    for package in ("core", "selfsup", "rl", "sim"):
        project = tomllib.loads((REPO / "packages" / package / "pyproject.toml").read_text())["project"]
        versions[project["name"]] = project["version"]
        if package != "core":
            assert f"leyden-core=={leyden_core.__version__}" in project["dependencies"]
    assert set(versions.values()) == {leyden_core.__version__}
    assert set(versions) == {"leyden-core", "leyden-selfsup", "leyden-rl", "leyden-sim"}
