"""Run the installed ``leyden`` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LEYDEN = str(Path(sys.executable).parent / "leyden")
TINY = [
    "--model",
    "ImageClassifier",
    "--model.backbone",
    "leyden_tiny_cnn",
    "--data",
    "DigitsDataModule",
    "--data.image_size",
    "8",
    "--trainer.accelerator",
    "cpu",
    "--trainer.enable_progress_bar",
    "false",
]


def leyden(*args: str, cwd: Path, wandb_mode: str | None = "disabled", timeout: float = 300, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["WANDB_SILENT"] = "true"
    env["OMP_NUM_THREADS"] = "1"
    if wandb_mode:
        env["WANDB_MODE"] = wandb_mode
    env.update(extra_env or {})
    return subprocess.run([LEYDEN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
