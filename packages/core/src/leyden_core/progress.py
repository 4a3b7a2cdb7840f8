"""A Rich progress bar that counts in the unit a method trains for.

Lightning's bar counts batches of an epoch. An RL method's budget is environment steps, not
epochs: its bar read ``Epoch 0/-2`` with a count of rollouts. A LightningModule that defines
``training_progress()`` returning a :class:`TrainingProgress` gets a bar of that instead, e.g.
``env steps ━━━━━━━ 20480/100000``; every other module gets Lightning's bar unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import RichProgressBar


@dataclass(frozen=True)
class TrainingProgress:
    """How far training is, in the unit of its budget (``done`` may overshoot ``total`` slightly)."""

    done: int
    total: int
    unit: str


def training_progress(module: pl.LightningModule | None) -> TrainingProgress | None:
    report = getattr(module, "training_progress", None)
    return report() if callable(report) else None


class LeydenProgressBar(RichProgressBar):
    """RichProgressBar whose training bar shows the module's own progress when it reports one."""

    @property
    def total_train_batches(self) -> int | float:
        progress = training_progress(self.trainer.lightning_module)
        return super().total_train_batches if progress is None else progress.total

    def _get_train_description(self, current_epoch: int) -> str:
        progress = training_progress(self.trainer.lightning_module)
        return super()._get_train_description(current_epoch) if progress is None else progress.unit

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        progress = training_progress(pl_module)
        if progress is None:
            return super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()  # resumed mid-epoch
        self._update(self.train_progress_bar_id, min(progress.done, progress.total))
        self._update_metrics(trainer, pl_module)
        self.refresh()
