"""Weights & Biases: the CLI's default logger and helpers for images, videos and tables.

Helpers take whatever a LightningModule or callback has at hand (a Trainer, a logger, or a list of
loggers), log only from rank zero, and do nothing when no ``WandbLogger`` is attached, so a method
can call them unconditionally.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.rank_zero import rank_zero_info

_offline_notice_given = False


def has_wandb_credentials() -> bool:
    """True when an API key is in the environment or in ~/.netrc (as ``wandb login`` leaves it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    try:
        return "api.wandb.ai" in netrc.read_text()
    except OSError:
        return False


def choose_wandb_mode() -> str:
    """Respect ``WANDB_MODE``; without it and without credentials, go offline (never prompt).

    Offline, W&B's own banner (five lines at the start, three at the end) is silenced unless
    ``WANDB_SILENT`` is set: :func:`announce_offline_run` says the same in two lines.
    """
    if not os.environ.get("WANDB_MODE") and not has_wandb_credentials():
        os.environ["WANDB_MODE"] = "offline"
    mode = os.environ.get("WANDB_MODE") or "online"
    if mode == "offline":
        os.environ.setdefault("WANDB_SILENT", "true")
    return mode


def prepare_wandb_init(logger: WandbLogger) -> None:
    """Remove two causes of W&B warnings before the run starts.

    Lightning's WandbLogger passes ``anonymous=None``, which W&B warns about as a deprecated setting
    even when unset; and W&B looks for a git repository in ``save_dir`` before anything has created
    it, and warns that it does not exist.
    """
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict):
        if init.get("anonymous", False) is None:
            del init["anonymous"]
        if init.get("dir"):
            Path(init["dir"]).mkdir(parents=True, exist_ok=True)


@rank_zero_only
def announce_offline_run(logger: WandbLogger) -> None:
    """Say once where an offline run is written and how to upload it (starting the run)."""
    global _offline_notice_given
    prepare_wandb_init(logger)
    if _offline_notice_given or os.environ.get("WANDB_MODE") != "offline":
        return
    _offline_notice_given = True
    run_dir = Path(logger.experiment.dir).parent
    rank_zero_info(
        f"W&B is offline (no credentials found): the run is in {run_dir}\n"
        f"  upload it later with: wandb sync {run_dir}"
    )


def wandb_loggers(source: Any) -> list[WandbLogger]:
    """The WandbLoggers reachable from a Trainer, a logger, or a list of loggers."""
    if source is None:
        return []
    loggers = getattr(source, "loggers", source)
    if isinstance(loggers, Logger):
        loggers = [loggers]
    return [lg for lg in loggers if isinstance(lg, WandbLogger)]


def _grid(images: torch.Tensor, nrow: int) -> np.ndarray:
    from torchvision.utils import make_grid

    images = images.detach().float().cpu()
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    lo, hi = images.amin(), images.amax()
    if lo < 0 or hi > 1:
        images = (images - lo) / (hi - lo + 1e-8)
    grid = make_grid(images, nrow=nrow, padding=1, pad_value=1.0)
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


@rank_zero_only
def log_image_grid(
    source: Any, key: str, images: torch.Tensor, nrow: int = 8, caption: str | None = None
) -> None:
    """Log a batch of images (N, C, H, W) as one grid image; values outside [0, 1] are rescaled."""
    for logger in wandb_loggers(source):
        import wandb

        logger.experiment.log({key: wandb.Image(_grid(images, nrow), caption=caption)})


@rank_zero_only
def log_video(source: Any, key: str, frames: np.ndarray | torch.Tensor, fps: int = 30) -> None:
    """Log a video from frames shaped (T, H, W, C) uint8, as environments render them."""
    frames = np.asarray(frames.cpu() if isinstance(frames, torch.Tensor) else frames)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3):
        raise ValueError(f"frames must be (T, H, W, C) with C in (1, 3), got shape {frames.shape}")
    for logger in wandb_loggers(source):
        import wandb

        # wandb.Video wants (T, C, H, W)
        video = wandb.Video(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)), fps=fps, format="mp4")
        logger.experiment.log({key: video})


@rank_zero_only
def log_table(source: Any, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Log a table (e.g. a benchmark result or per-round statistics)."""
    for logger in wandb_loggers(source):
        import wandb

        logger.experiment.log({key: wandb.Table(columns=list(columns), data=[list(r) for r in rows])})
