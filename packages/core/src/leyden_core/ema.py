"""Exponential moving averages of weights: target networks (DQN, SAC, CURL) and momentum encoders
(MoCo) are the same update, so it lives here once."""

from __future__ import annotations

import torch


@torch.no_grad()
def polyak_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
    """``θ_target ← τ·θ_online + (1 − τ)·θ_target`` for every parameter; ``tau = 1`` copies.

    A momentum encoder with momentum ``m`` is ``polyak_update(key_encoder, encoder, 1 - m)``.
    Buffers (BatchNorm statistics) are left to the caller.
    """
    t_params = list(target.parameters())
    o_params = [p.detach() for p in online.parameters()]
    if len(t_params) != len(o_params):
        raise ValueError(f"target has {len(t_params)} parameters, online has {len(o_params)}")
    if tau >= 1.0:
        torch._foreach_copy_(t_params, o_params)
    else:
        torch._foreach_lerp_(t_params, o_params, tau)
