"""A clean console: the progress bar, where the run and its checkpoints are, the final metrics.

Lightning, torch and W&B print a dozen lines on every run that say nothing about it. Each is
silenced here at its source and by its exact text, so a new warning (or the same one from code of
the user's) still shows. Causes Leyden can fix are fixed where they arise instead: the seed has a
default (``seed_everything: 0``), W&B's save directory exists before its run starts, and the
default WandbLogger passes no ``anonymous`` setting (see :mod:`leyden_core.wandb_logging`).
"""

from __future__ import annotations

import logging
import re
import warnings

# (message regex, category): Python warnings raised on every run by libraries, not by the user's setup.
NOISE_WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # Lightning's own _pytree helper still builds torch's deprecated LeafSpec; nothing a user can change.
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning),
    # RL methods' step-counter dataset has a length (it sizes the loop) and no workers to duplicate it.
    (r"Your `IterableDataset` has `__len__` defined", UserWarning),
)

# logger name -> message regexes: informational lines that are advertising or internal detail.
NOISE_LOGS: dict[str, tuple[str, ...]] = {
    "lightning.pytorch.utilities.rank_zero": (
        r"💡 Tip: For seamless cloud logging",
        r"Loading `train_dataloader` to estimate number of stepping batches",
    ),
    "lightning.pytorch.trainer.connectors.checkpoint_connector": (r"`weights_only` was not set",),
}


class _DropMessages(logging.Filter):
    """Drop a logger's records whose message matches one of ``patterns``."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        super().__init__(name="leyden-console")
        self.pattern = re.compile("|".join(f"(?:{p})" for p in patterns))

    def filter(self, record: logging.LogRecord) -> bool:
        return not self.pattern.search(record.getMessage())


def quiet_known_noise() -> None:
    """Install the filters above (idempotent: calling it again adds nothing)."""
    for message, category in NOISE_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name, patterns in NOISE_LOGS.items():
        logger = logging.getLogger(name)
        if not any(getattr(f, "name", None) == "leyden-console" for f in logger.filters):
            logger.addFilter(_DropMessages(patterns))
