"""W&B through the real CLI: offline by default, read back from the run's own files."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import wandb
from lightning.pytorch.loggers import WandbLogger

from leyden_core.data import DigitsDataModule
from leyden_core.plugins import import_object
from leyden_core.wandb_logging import log_image_grid, log_table, log_video
from leyden_core.wandb_offline import read_offline_run
from tests.core.cli_runner import TINY, leyden


def test_offline_by_default_logs_metrics_and_resolved_config(tmp_path):
    result = leyden(
        "fit",
        *TINY,
        "--trainer.max_epochs",
        "2",
        "--trainer.log_every_n_steps",
        "5",
        "--model.lr",
        "0.003",
        cwd=tmp_path,
        wandb_mode=None,
        extra_env={"HOME": str(tmp_path)},  # no credentials anywhere
    )
    assert result.returncode == 0, result.stderr[-2000:]
    output = result.stdout + result.stderr
    assert output.count("W&B is offline") == 1 and "wandb sync" in output
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1
    run = read_offline_run(runs[0])
    assert run.config["model"]["init_args"]["lr"] == 0.003
    assert import_object(run.config["data"]["class_path"]) is DigitsDataModule  # the stored path re-imports
    accuracies = run.metric("val/acc")
    assert len(accuracies) == 2 and all(0.0 <= a <= 1.0 for a in accuracies)
    assert len(run.metric("train/loss")) >= 4
    assert run.metric("throughput/samples_per_s")[0] > 0


def test_wandb_mode_disabled_writes_no_run_and_outputs_stay_in_default_root_dir(tmp_path):
    args = ["--trainer.max_steps", "2", "--trainer.default_root_dir", "runs/a"]
    result = leyden("fit", *TINY, *args, cwd=tmp_path, wandb_mode="disabled")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not list(tmp_path.rglob("offline-run-*"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]
    assert (tmp_path / "runs/a/config.yaml").is_file() and (
        tmp_path / "runs/a/checkpoints/last.ckpt"
    ).is_file()


def test_media_helpers_write_images_videos_and_tables(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    # an in-process CLI test that stopped with an error may leave its (disabled) run current, and
    # WandbLogger would attach to it instead of starting this offline one
    if wandb.run is not None:
        wandb.finish()
    logger = WandbLogger(project="leyden-test", save_dir=str(tmp_path), mode="offline")
    log_image_grid(logger, "views", torch.rand(6, 3, 8, 8))
    log_video([logger], "episode", np.random.randint(0, 255, (5, 16, 16, 3), dtype=np.uint8), fps=4)
    log_table(logger, "results", ["method", "acc"], [["a", 0.5], ["b", 0.7]])
    log_image_grid(None, "ignored", torch.rand(1, 3, 8, 8))  # no logger: a no-op, not an error
    run_dir = tmp_path / "wandb" / logger.experiment.dir.split("/wandb/")[1].split("/")[0]
    with pytest.raises(TimeoutError, match="no exit record"):  # a live run is not finished yet
        read_offline_run(run_dir, timeout=0.5)
    assert isinstance(read_offline_run(run_dir, timeout=0).history, list)  # read as it is
    logger.experiment.finish()
    run = read_offline_run(run_dir)
    logged = {key.split("/")[0] for row in run.history for key in row}  # media are nested keys
    assert {"views", "episode", "results"} <= logged
    media = {p.suffix for p in (tmp_path / "wandb").rglob("files/media/**/*") if p.is_file()}
    assert {".png", ".mp4", ".json"} <= media
