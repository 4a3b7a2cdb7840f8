"""The numerical pieces of TRPO (Schulman et al., 2015): pure functions, no module state.

TRPO maximises the surrogate ``L(θ) = E[π_θ(a|s) / π_old(a|s) · A]`` subject to
``E[KL(π_old ‖ π_θ)] ≤ δ``. Linearising L and taking the KL to second order gives the natural-gradient
step ``θ ← θ_old + √(2δ / sᵀFs) · s`` with ``s = F⁻¹g``, where F is the Fisher information (the KL's
Hessian at θ_old) and g = ∇L. F is never formed: :func:`fisher_vector_product` returns ``v ↦ Fv``
by differentiating the KL twice, :func:`conjugate_gradient` solves ``Fs = g`` with a few of those
products, and :func:`backtracking_line_search` shrinks the step until the true (not approximated)
KL is within δ and the surrogate improved.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch


def flat(tensors: Sequence[torch.Tensor]) -> torch.Tensor:
    """Concatenate tensors into one 1-D vector (parameters, gradients, steps)."""
    return torch.cat([t.reshape(-1) for t in tensors])


@torch.no_grad()
def assign_flat(params: Sequence[torch.Tensor], vector: torch.Tensor) -> None:
    """Copy a 1-D ``vector`` (laid out as :func:`flat` lays out ``params``) into ``params`` in place."""
    offset = 0
    for p in params:
        p.copy_(vector[offset : offset + p.numel()].view_as(p))
        offset += p.numel()
    if offset != vector.numel():
        raise ValueError(f"assign_flat: vector has {vector.numel()} entries, parameters {offset}")


def categorical_kl(old_logits: torch.Tensor, new_logits: torch.Tensor) -> torch.Tensor:
    """Per-sample KL(old ‖ new) between categorical distributions given by logits over the last axis."""
    old_logp, new_logp = old_logits.log_softmax(-1), new_logits.log_softmax(-1)
    return (old_logp.exp() * (old_logp - new_logp)).sum(-1)


def diagonal_gaussian_kl(
    old_mean: torch.Tensor, old_log_std: torch.Tensor, new_mean: torch.Tensor, new_log_std: torch.Tensor
) -> torch.Tensor:
    """Per-sample KL(old ‖ new) between diagonal Gaussians (summed over the last axis)."""
    var_ratio = (2 * (old_log_std - new_log_std)).exp()
    mean_term = ((old_mean - new_mean) / new_log_std.exp()).pow(2)
    return 0.5 * (var_ratio + mean_term - 1.0 - 2 * (old_log_std - new_log_std)).sum(-1)


def fisher_vector_product(
    kl: torch.Tensor,
    params: Sequence[torch.Tensor],
    damping: float,
    reduce: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``v ↦ (F + damping·I) v``, F the Hessian of the mean ``kl`` (evaluated where old = new).

    The KL's gradient is built once with a graph; each product is one more backward through it.
    ``reduce`` averages each product over DDP ranks (each rank's F is over its own samples).
    """
    grads = flat(torch.autograd.grad(kl, params, create_graph=True, materialize_grads=True))

    def product(v: torch.Tensor) -> torch.Tensor:
        hv = torch.autograd.grad(grads @ v, params, retain_graph=True, materialize_grads=True)
        return reduce(flat(hv).detach()) + damping * v

    return product


@torch.no_grad()
def conjugate_gradient(
    matvec: Callable[[torch.Tensor], torch.Tensor], b: torch.Tensor, steps: int, tolerance: float = 1e-10
) -> torch.Tensor:
    """Approximately solve ``A x = b`` for symmetric positive-definite A given only ``x ↦ A x``.

    ``steps`` iterations from x = 0; exact after ``dim(b)`` in exact arithmetic, and TRPO's 10–15
    iterations are enough for a good step direction. Stops early once ``‖r‖² < tolerance``.
    """
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    r_dot = r @ r
    for _ in range(steps):
        if r_dot < tolerance:
            break
        with torch.enable_grad():  # the product may differentiate through a graph
            ap = matvec(p)
        alpha = r_dot / (p @ ap)
        x += alpha * p
        r -= alpha * ap
        new_r_dot = r @ r
        p = r + (new_r_dot / r_dot) * p
        r_dot = new_r_dot
    return x


def natural_step(direction: torch.Tensor, f_direction: torch.Tensor, max_kl: float) -> torch.Tensor:
    """Scale ``s`` (with ``Fs`` given) so that the quadratic KL model ``½ sᵀFs`` equals ``max_kl``."""
    shs = float(direction @ f_direction)
    return direction * math.sqrt(2.0 * max_kl / max(shs, 1e-12))


@torch.no_grad()
def backtracking_line_search(
    params: Sequence[torch.Tensor],
    full_step: torch.Tensor,
    evaluate: Callable[[], tuple[float, float]],
    max_kl: float,
    shrink: float,
    max_steps: int,
) -> tuple[bool, float]:
    """Try ``θ_old + shrinkⁱ · full_step`` for i = 0, 1, …; keep the first with KL ≤ ``max_kl`` and a
    better objective than at ``θ_old``.

    ``evaluate()`` returns ``(objective, kl)`` at the parameters currently in ``params`` (higher
    objective is better). Returns ``(accepted, fraction of full_step taken)``; when no candidate
    passes, ``params`` are restored to ``θ_old`` and ``(False, 0.0)`` returned.
    """
    old = flat(params).clone()
    old_objective, _ = evaluate()
    fraction = 1.0
    for _ in range(max_steps):
        assign_flat(params, old + fraction * full_step)
        objective, kl = evaluate()
        if kl <= max_kl and objective > old_objective:
            return True, fraction
        fraction *= shrink
    assign_flat(params, old)
    return False, 0.0
