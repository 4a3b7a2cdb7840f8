"""Stop a run that diverged, before it writes a checkpoint, with a message saying where and why."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from leyden_core.errors import LeydenConfigError


class TrainingDiverged(LeydenConfigError):
    """The loss, a gradient or the weights stopped being finite, or the weights blew up.

    A LeydenConfigError, so the CLI prints it as two lines and exits 2, and the on-exception checkpoint
    is not written: ``last.ckpt`` keeps the last state written before the divergence.
    """


def _total_norm(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of all tensors together, in float32 so that half-precision tensors cannot overflow it."""
    if not tensors:
        return torch.zeros(())
    norms = [torch.linalg.vector_norm(t.detach(), dtype=torch.float32) for t in tensors]
    return torch.linalg.vector_norm(torch.stack([n.to(norms[0].device) for n in norms]))


class StopOnDivergence(Callback):
    """Stop training when a gradient is not finite or the weights grow far beyond where they started.

    With automatic optimization the gradients are checked just before each optimizer step, so a NaN loss
    stops the run before it reaches the weights. With manual optimization (RL: dozens of small optimizer
    steps per training step, where a check per step would cost ~4 % of a CartPole PPO run) the weights
    are checked after each training step instead. Both check the weights after every training step,
    which also catches updates that stay finite but explode (PPO at lr=1e6 keeps a finite value loss of
    ~1e13 while its weights grow a million-fold). The run ends with :class:`TrainingDiverged` naming the
    step and the likely cause, before any checkpoint callback saves the diverged weights.

    Gradients are not checked under fp16 mixed precision, where the gradient scaler skips steps with
    infinite gradients by design.

    Args:
        max_weight_growth: stop when the weights' total norm exceeds this multiple of its value at the
            start of training (measured against at least 1.0); ``None`` checks only finiteness.
        enabled: ``false`` switches every check off. The CLI adds this callback to every run; to switch it
            off, configure it: ``--trainer.callbacks+=leyden_core.divergence.StopOnDivergence
            --trainer.callbacks.enabled=false``.
    """

    def __init__(self, max_weight_growth: float | None = 1e4, enabled: bool = True) -> None:
        self.max_weight_growth = max_weight_growth
        self.enabled = enabled
        self._start_norm = 1.0

    def _params(self, pl_module: pl.LightningModule) -> list[torch.Tensor]:
        return [p for p in pl_module.parameters() if p.requires_grad]

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.enabled:
            self._start_norm = max(1.0, float(_total_norm(self._params(pl_module))))

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if not (self.enabled and pl_module.automatic_optimization):
            return
        if getattr(trainer.precision_plugin, "scaler", None) is not None:
            return
        named = [(n, p.grad) for n, p in pl_module.named_parameters() if p.grad is not None]
        if not named or torch.isfinite(_total_norm([g for _, g in named])):
            return
        bad = next((n for n, g in named if not bool(torch.isfinite(g).all())), None)
        what = f"the gradient of {bad} is not finite" if bad else "the gradient norm overflows float32"
        self._stop(trainer, pl_module, what)

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if not self.enabled:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        bad_loss = isinstance(loss, torch.Tensor) and loss.numel() == 1 and not bool(torch.isfinite(loss))
        # every rank must stop together (the loss is per rank; gradients and weights are identical)
        if trainer.strategy.reduce_boolean_decision(bad_loss, all=False):
            self._stop(trainer, pl_module, "the loss is not finite")
        norm = float(_total_norm(self._params(pl_module)))
        if norm != norm or norm == float("inf"):
            self._stop(trainer, pl_module, "the weights are not finite")
        if self.max_weight_growth is not None and norm > self.max_weight_growth * self._start_norm:
            growth = norm / self._start_norm
            self._stop(trainer, pl_module, f"the weights grew {growth:.1e}-fold since training started")

    def _stop(self, trainer: pl.Trainer, pl_module: pl.LightningModule, what: str) -> None:
        where = f"step {trainer.global_step}"
        env_steps = getattr(pl_module, "env_steps", None)
        if isinstance(env_steps, int):
            where += f", env step {env_steps}"
        lrs = [group["lr"] for opt in trainer.optimizers for group in opt.param_groups if "lr" in group]
        cause = f"the learning rate ({max(lrs):g}) is likely too high" if lrs else "the updates are too large"
        clip = (
            " (or clip gradients: --trainer.gradient_clip_val 1.0)"
            if pl_module.automatic_optimization
            else ""
        )
        raise TrainingDiverged(
            f"training diverged at {where}: {what}; {cause}",
            f"lower the learning rate{clip}; the checkpoints written before this step are kept",
        )
