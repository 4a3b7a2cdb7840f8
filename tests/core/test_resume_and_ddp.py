"""Interrupt-and-resume and 2-process DDP, through the real ``leyden`` command."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from tests.core.cli_runner import TINY, leyden

REPO = Path(__file__).resolve().parents[2]
PROBE_ENV = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def _weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=0, msg=f"weights differ at {key}")


def test_sigterm_at_epoch_boundary_then_resume_matches_uninterrupted_run(tmp_path):
    args = [*TINY, "--trainer.max_epochs", "3", "--seed_everything", "7", "--trainer.log_every_n_steps", "5"]
    straight, interrupted = tmp_path / "straight", tmp_path / "interrupted"
    straight.mkdir(), interrupted.mkdir()

    assert leyden("fit", *args, cwd=straight).returncode == 0

    stopped = leyden(
        "fit",
        *args,
        "--trainer.callbacks+=tests.core.probes.SigtermAt",
        "--trainer.callbacks.epoch=0",
        cwd=interrupted,
        extra_env=PROBE_ENV,
    )
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    assert "resume with --ckpt_path last" in stopped.stderr
    last = interrupted / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=False)["epoch"] == 1  # epoch 0 completed

    resumed = leyden("fit", *args, "--ckpt_path", "last", cwd=interrupted)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = torch.load(interrupted / "checkpoints" / "last.ckpt", weights_only=False)
    reference = torch.load(straight / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["global_step"] == reference["global_step"]
    _assert_same_weights(final["state_dict"], reference["state_dict"])


def _steps_per_epoch() -> int:
    from leyden_core.data import DigitsDataModule

    data = DigitsDataModule(image_size=8)
    data.setup("fit")
    return len(data.train_dataloader())


def test_sigterm_mid_epoch_loses_no_completed_step(tmp_path):
    """Mid-epoch the step count continues exactly; the weights differ from an uninterrupted run
    because a plain DataLoader restarts its epoch (documented limit)."""
    args = [*TINY, "--trainer.max_epochs", "2", "--seed_everything", "7"]
    stopped = leyden(
        "fit",
        *args,
        "--trainer.callbacks+=tests.core.probes.SigtermAt",
        "--trainer.callbacks.epoch=1",
        "--trainer.callbacks.batch=4",
        cwd=tmp_path,
        extra_env=PROBE_ENV,
    )
    assert stopped.returncode == 143, stopped.stderr[-2000:]
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    steps_per_epoch = _steps_per_epoch()
    assert saved["epoch"] == 1 and saved["global_step"] == steps_per_epoch + 5
    resumed = leyden("fit", *args, "--ckpt_path", "last", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    final = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert final["global_step"] == 2 * steps_per_epoch


@pytest.mark.ddp
def test_ddp_two_cpu_processes_see_disjoint_data_and_end_identical(tmp_path):
    out = tmp_path / "probe"
    result = leyden(
        "fit",
        *TINY,
        "--trainer.max_epochs",
        "1",
        "--trainer.strategy",
        "ddp",
        "--trainer.devices",
        "2",
        "--trainer.callbacks+=tests.core.probes.RecordSeenSamples",
        f"--trainer.callbacks.out_dir={out}",
        cwd=tmp_path,
        extra_env=PROBE_ENV,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = [json.loads((out / f"seen_rank{r}.json").read_text()) for r in range(2)]
    assert len(seen[0]) == len(seen[1]) > 0
    train_size = len(set(seen[0]) | set(seen[1]))
    # DistributedSampler pads an odd-sized set with one repeated sample; otherwise no overlap at all
    assert len(set(seen[0]) & set(seen[1])) <= train_size % 2
    assert len(seen[0]) + len(seen[1]) == train_size + train_size % 2
    _assert_same_weights(*(torch.load(out / f"weights_rank{r}.pt") for r in range(2)))
