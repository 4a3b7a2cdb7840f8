"""LARS and the warmup + cosine learning-rate schedule of SimCLR's large-batch recipe."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class LARS(torch.optim.Optimizer):
    """SGD with momentum whose step for each weight tensor is scaled by ``eta * ||w|| / ||g||``.

    The layer-wise trust ratio keeps every layer's update a fixed fraction of its weights, which is
    what lets SimCLR train at batch 4096 (You et al. 2017). Parameter groups with ``lars=False``
    (biases and normalization weights, by SimCLR's convention) take plain momentum-SGD steps.
    """

    def __init__(
        self, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0, eta: float = 1e-3
    ):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay, eta=eta, lars=True)
        )

    @torch.no_grad()
    def step(self, closure: Callable | None = None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.add(p, alpha=group["weight_decay"]) if group["weight_decay"] else p.grad.clone()
                if group["lars"]:
                    w_norm, g_norm = p.norm(), grad.norm()
                    trust = torch.where((w_norm > 0) & (g_norm > 0), group["eta"] * w_norm / g_norm, 1.0)
                    grad.mul_(trust)
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = grad
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                p.add_(state["momentum_buffer"], alpha=-group["lr"])
        return loss


def warmup_cosine(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate: linear warmup, then cosine decay to zero."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    return factor


def cosine_momentum(base: float, step: int, total_steps: int) -> float:
    """BYOL's and DINO's target momentum: from ``base`` at step 0 up to 1 at ``total_steps``, on a cosine,
    ``1 - (1 - base) (cos(π k / K) + 1) / 2``; the target network freezes as training settles."""
    progress = min(1.0, step / max(1, total_steps))
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
