"""Callbacks every Leyden run gets from the CLI."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from leyden_core.errors import LeydenConfigError


def batch_size_of(batch: Any) -> int:
    """Number of samples in a batch: the leading size of its first tensor (0 if it has none)."""
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0]) if batch.ndim else 1
    if isinstance(batch, dict):
        batch = list(batch.values())
    if isinstance(batch, (list, tuple)):
        for item in batch:
            size = batch_size_of(item)
            if size:
                return size
    return 0


class ThroughputMonitor(Callback):
    """Log training throughput: ``throughput/samples_per_s`` and, for RL, ``throughput/env_steps_per_s``.

    Samples are counted from batch sizes; environment steps from the LightningModule's ``env_steps``
    attribute (total steps collected on this rank), which RL methods keep. Rates are per process,
    measured over the batches since the previous log, so they include data loading and logging.
    """

    def __init__(self, log_every_n_steps: int | None = None) -> None:
        """``log_every_n_steps`` defaults to the Trainer's."""
        self.log_every_n_steps = log_every_n_steps
        self._reset(None)

    def _reset(self, pl_module: pl.LightningModule | None) -> None:
        self._since = time.perf_counter()
        self._samples = 0
        self._env_steps_at_start = getattr(pl_module, "env_steps", None) if pl_module else None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._reset(pl_module)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        self._samples += batch_size_of(batch)
        if (batch_idx + 1) % (self.log_every_n_steps or trainer.log_every_n_steps):
            return
        elapsed = time.perf_counter() - self._since
        metrics = {"throughput/samples_per_s": self._samples / elapsed}
        env_steps = getattr(pl_module, "env_steps", None)
        if env_steps is not None and self._env_steps_at_start is not None:
            metrics["throughput/env_steps_per_s"] = (env_steps - self._env_steps_at_start) / elapsed
        pl_module.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False, sync_dist=False)
        self._reset(pl_module)


class LastCheckpointOnException(Callback):
    """On SIGTERM, Ctrl-C or a crash, write ``last.ckpt`` so ``--ckpt_path last`` resumes from it.

    Lightning turns SIGTERM into an exception that reaches ``on_exception``. The file goes next to
    ModelCheckpoint's ``last.ckpt``, which is where ``ckpt_path="last"`` looks. Unlike Lightning's
    ``OnExceptionCheckpoint`` it is not deleted at teardown and does not make every later ``fit``
    resume implicitly: resuming is the user's explicit ``--ckpt_path last``.

    Nothing is written for a LeydenConfigError (bad input, or a diverged run: the last finite state
    stays), nor before training started: a resume that fails while loading its checkpoint must not
    replace that checkpoint with the freshly built model.
    """

    def __init__(self, dirpath: str | Path) -> None:
        self.path = Path(dirpath) / "last.ckpt"
        self._training = False

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._training = True

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._training = False

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        if isinstance(exception, LeydenConfigError) or trainer.state.fn != "fit" or not self._training:
            return
        trainer.save_checkpoint(self.path)


class RNGStateCheckpoint(Callback):
    """Keep Python, NumPy and torch random states in the checkpoint and restore them on resume.

    Without this a resumed run re-seeds from ``seed_everything`` and shuffles, augments and
    explores differently from the run it continues. With it, a run resumed from an epoch
    boundary ends with the same weights as an uninterrupted one.
    """

    def state_dict(self) -> dict[str, Any]:
        # tensors and plain Python values only, so the checkpoint loads with weights_only=True
        import random

        import numpy as np

        kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
        state = {
            "python": random.getstate(),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached_gaussian),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        import random

        import numpy as np

        random.setstate(state_dict["python"])
        kind, keys, pos, has_gauss, cached_gaussian = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached_gaussian))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])
