"""Gittins indices of a Bernoulli arm with a Beta(1, 1) prior, for a finite (optionally discounted) horizon.

The index of an arm is the constant per-step reward λ that would make us indifferent between
retiring on λ for the remaining ``m`` steps and pulling the arm (keeping the option to retire
later). Pulling the arm of largest index is Bayes-optimal for the discounted infinite horizon;
with the trial's finite horizon it is the strong, near-optimal baseline of the RL² paper.

For a given λ the optimal-stopping value obeys, with ``p = (1 + s) / (2 + s + f)`` the posterior
mean after ``s`` successes and ``f`` failures::

    V_0 = 0,    V_m(s, f) = max( λ·(1 + γ + … + γ^(m−1)),  p (1 + γ V_{m−1}(s+1, f)) + (1 − p) γ V_{m−1}(s, f+1) )

We run this dynamic programme for a whole grid of λ at once; ``play − retire`` is decreasing and
piecewise linear in λ, so the index is the grid crossing refined by linear interpolation.
"""

from __future__ import annotations

from functools import lru_cache

import torch


@lru_cache(maxsize=8)
def gittins_table(horizon: int, discount: float = 1.0, grid: int = 801) -> torch.Tensor:
    """Index table ``G[m, s, f]`` for ``m`` = 1..horizon remaining pulls (``G[0]`` unused, 0).

    Only entries with ``s + f + m <= horizon`` (reachable in a trial of ``horizon`` pulls) are
    computed; the rest hold 0. With ``grid = 801`` the interpolated index is within 1e-4 of the
    exact one (checked against a 4001-point grid); 100 pulls take ~10 s on one core, once.
    """
    lam = torch.linspace(0.0, 1.0, grid)[:, None, None]  # (L, 1, 1)
    size = horizon + 1
    s = torch.arange(size, dtype=torch.float32)[:, None]
    f = torch.arange(size, dtype=torch.float32)[None, :]
    p = (1.0 + s) / (2.0 + s + f)  # posterior mean of every (s, f)
    table = torch.zeros(size, size, size)
    value = torch.zeros(grid, size + 1, size + 1)  # V_{m-1}(s, f), padded by one
    annuity = 0.0
    for m in range(1, horizon + 1):
        annuity = 1.0 + discount * annuity  # 1 + γ + … + γ^(m−1)
        c = horizon - m + 1  # states with s, f < c cover every reachable s + f <= horizon − m
        pc = p[:c, :c]
        play = (
            pc * (1.0 + discount * value[:, 1 : c + 1, :c]) + (1.0 - pc) * discount * value[:, :c, 1 : c + 1]
        )
        gap = play - lam * annuity  # (L, c, c), decreasing in λ
        # last grid point with gap >= 0, then linear interpolation to the zero crossing
        idx = (gap >= 0).sum(0).clamp(1, grid - 1) - 1
        g0 = gap.gather(0, idx[None]).squeeze(0)
        g1 = gap.gather(0, (idx + 1)[None]).squeeze(0)
        frac = (g0 / (g0 - g1).clamp_min(1e-12)).clamp(0.0, 1.0)
        reachable = s[:c] + f[:, :c] + m <= horizon
        table[m, :c, :c] = torch.where(reachable, (idx + frac) / (grid - 1), torch.zeros(()))
        value[:, :c, :c] = torch.maximum(play, lam * annuity)
    return table
