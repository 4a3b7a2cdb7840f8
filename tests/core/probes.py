"""Test-only callbacks, passed to the real CLI with ``--trainer.callbacks+=tests.core.probes.X``."""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback


class RecordSeenSamples(Callback):
    """Write the hash of every training sample this rank saw, and its final weights."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)
        self.seen: list[str] = []

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int
    ) -> None:
        images, labels = batch
        for image, label in zip(images, labels):
            self.seen.append(hashlib.sha1(image.numpy().tobytes() + bytes([int(label)])).hexdigest())

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        rank = trainer.global_rank
        (self.out_dir / f"seen_rank{rank}.json").write_text(json.dumps(self.seen))
        torch.save(pl_module.state_dict(), self.out_dir / f"weights_rank{rank}.pt")


class SigtermAt(Callback):
    """Send this process a real SIGTERM at the end of training epoch ``epoch`` (or after batch ``batch``)."""

    def __init__(self, epoch: int = 0, batch: int | None = None) -> None:
        self.epoch = epoch
        self.batch = batch

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.batch is not None and trainer.current_epoch == self.epoch and batch_idx == self.batch:
            os.kill(os.getpid(), signal.SIGTERM)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.batch is None and trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGTERM)
