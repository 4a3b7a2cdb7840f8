"""AdaBN (Li et al., 2016): re-estimate BatchNorm statistics on the unlabeled target domain.

A network trained on the source normalizes every layer with the source's running means and
variances; on the target those statistics are off. AdaBN replaces them by the target's, computed
with the weights frozen and no labels — the cheapest domain adaptation there is, and the baseline
a domain-confusion method has to beat.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import TensorDataset

from leyden_core.errors import LeydenConfigError


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, images: torch.Tensor, batch_size: int | None = None) -> None:
    """Set every BatchNorm layer's running statistics to those of ``images``; weights and
    train/eval modes are unchanged. ``batch_size=None``: one pass over all images (exact
    statistics); otherwise the plain average of per-batch statistics (for sets too big for memory)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise LeydenConfigError(f"{type(model).__name__} has no BatchNorm layers", "AdaBN needs BatchNorm")
    modes = {m: m.training for m in model.modules()}
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average
    model.eval()
    for norm in norms:
        norm.train()
    batch_size = batch_size or len(images)
    for start in range(0, len(images), batch_size):
        model(images[start : start + batch_size].to(next(model.parameters()).device))
    for norm, momentum in zip(norms, momenta):
        norm.momentum = momentum
    for module, training in modes.items():
        module.train(training)


class AdaBN(pl.Callback):
    """Before every validation and test, :func:`adapt_batchnorm` on the datamodule's unlabeled
    ``target`` images (a ``TensorDataset``, as :class:`~leyden_sim.datamodules.SynDigitsDataModule`
    builds), in batches of ``batch_size``. Training is unaffected: BatchNorm uses batch statistics
    there."""

    def __init__(self, batch_size: int | None = 256) -> None:
        self.batch_size = batch_size

    def _adapt(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        target = getattr(trainer.datamodule, "target", None)
        if not isinstance(target, TensorDataset):
            raise LeydenConfigError(
                "AdaBN needs a datamodule with unlabeled `target` images",
                "use SynDigitsDataModule (any with_target) or give your datamodule a `target` TensorDataset",
            )
        adapt_batchnorm(pl_module, target.tensors[0], self.batch_size)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any) -> None:
        self._adapt(trainer, pl_module)

    def on_test_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *_: Any) -> None:
        self._adapt(trainer, pl_module)
