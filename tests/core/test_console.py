"""A normal run's console: the progress bar, where the run and checkpoints are, the final metrics,
and none of the libraries' known noise (each silenced narrowly in ``leyden_core.console``)."""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path

from leyden_core.console import quiet_known_noise
from tests.core.cli_runner import LEYDEN

# Lines that every run printed before, none of which says anything about the run.
NOISE = (
    "No seed found",
    "litlogger",
    "The anonymous setting has no effect",
    "git root",
    "LeafSpec",
    "IterableDataset` has `__len__`",
    "`weights_only` was not set",
    "Loading `train_dataloader` to estimate",
    "Tracking run with wandb version",  # offline, W&B's banner repeats what Leyden says in two lines
    "wandb leet",
)


def run_like_a_user(*args: str, cwd: Path) -> str:
    """``leyden ...`` with W&B as a user without credentials gets it (offline) and no thread setting."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_") and k != "OMP_NUM_THREADS"}
    env["WANDB_MODE"] = "offline"
    result = subprocess.run([LEYDEN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def assert_clean(output: str) -> None:
    found = [noise for noise in NOISE if noise in output]
    assert not found, f"known noise printed: {found}\n{output[-3000:]}"


def test_tiny_fit_prints_progress_run_checkpoints_and_metrics_without_noise(tmp_path: Path) -> None:
    output = run_like_a_user(
        "fit",
        *("--model", "ImageClassifier", "--model.backbone", "leyden_tiny_cnn"),
        *("--data", "DigitsDataModule", "--data.image_size", "8", "--trainer.max_epochs", "1"),
        *("--trainer.limit_train_batches", "3", "--trainer.limit_val_batches", "1"),
        "--trainer.default_root_dir=runs/tiny",  # not created yet: W&B used to warn about its git root
        cwd=tmp_path,
    )
    assert_clean(output)
    assert "Epoch 0/0" in output and "3/3" in output  # the progress bar
    assert "W&B is offline" in output and "wandb sync runs/tiny/wandb/offline-run-" in output
    assert f"checkpoints: {tmp_path / 'runs' / 'tiny' / 'checkpoints'}" in output
    assert "final metrics (step 3):" in output and "val/acc=" in output
    assert "torch threads:" in output  # the thread choice, in one line


def test_filters_are_narrow_a_different_warning_still_shows() -> None:
    quiet_known_noise()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        quiet_known_noise()  # re-installed inside the fresh filter state, as the CLI does at start
        warnings.warn("Your `IterableDataset` has `__len__` defined. (and more)", UserWarning, stacklevel=1)
        warnings.warn("something the user should see", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["something the user should see"]


def test_wandb_init_loses_the_causes_of_its_warnings(tmp_path: Path) -> None:
    """Online runs show W&B's output, so the causes are removed rather than the output silenced."""
    from lightning.pytorch.loggers import WandbLogger

    from leyden_core.wandb_logging import prepare_wandb_init

    save_dir = tmp_path / "runs" / "new"
    logger = WandbLogger(project="leyden", save_dir=str(save_dir))
    assert logger._wandb_init["anonymous"] is None  # what Lightning passes, and W&B warns about
    prepare_wandb_init(logger)
    assert "anonymous" not in logger._wandb_init and save_dir.is_dir()
    chosen = WandbLogger(project="leyden", save_dir=str(tmp_path), anonymous=True)
    prepare_wandb_init(chosen)
    assert chosen._wandb_init["anonymous"] == "allow"  # a user's explicit choice stays
