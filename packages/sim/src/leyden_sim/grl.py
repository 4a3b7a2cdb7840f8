"""Gradient reversal (Ganin & Lempitsky 2015): identity forward, gradient × (−λ) backward."""

from __future__ import annotations

import math

import torch


def dann_lambda(progress: float, gamma: float = 10.0) -> float:
    """λ_p = 2 / (1 + exp(−γ p)) − 1: 0 at the start (noisy discriminator), → 1 by the end."""
    progress = min(max(progress, 0.0), 1.0)
    return 2.0 / (1.0 + math.exp(-gamma * progress)) - 1.0


class _GradientReversal(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lam: float) -> torch.Tensor:  # noqa: ANN001
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ANN001
        return -ctx.lam * grad, None


def grad_reverse(x: torch.Tensor, lam: float) -> torch.Tensor:
    """Pass ``x`` through unchanged; its gradient comes back multiplied by ``-lam``."""
    return _GradientReversal.apply(x, lam)
