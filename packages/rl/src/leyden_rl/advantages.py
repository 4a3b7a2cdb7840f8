"""Advantage estimation over a rollout stored as (time, envs) tensors.

Gymnasium separates the two ways an episode ends, and the difference matters for the targets:

* ``terminated``: the MDP reached a terminal state; the value after it is zero.
* ``truncated``: a time limit (or anything outside the MDP) cut the episode; the state after it
  still has a value, which we must *bootstrap* from the final observation rather than treat as 0.

Both end the episode, so the advantage recursion must not run across either. The caller therefore
passes ``next_values[t]``: the value of the observation that *followed* step ``t`` in the same
episode — ``V(obs[t + 1])`` normally, ``V(final_obs)`` when the episode was truncated at ``t``
(the vector env already reset, so ``obs[t + 1]`` belongs to the next episode). Its value at a
terminated step is ignored.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def gae(
    rewards: torch.Tensor,
    values: torch.Tensor,
    next_values: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
    gae_lambda: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized Advantage Estimation, GAE(λ) (Schulman et al., 2016), batched over envs.

    Args:
        rewards, values, next_values, terminated, truncated: shape (T, N) — T steps of N envs.
            ``terminated``/``truncated`` are bool or {0, 1} and say how the episode ended *at* step t.
        gamma: discount. gae_lambda: λ (1 = Monte-Carlo returns, 0 = one-step TD).

    Returns:
        ``(advantages, returns)``, both (T, N); ``returns = advantages + values`` is the value target.

    δ_t = r_t + γ (1 − term_t) V_next_t − V_t and A_t = δ_t + γλ (1 − done_t) A_{t+1}, with
    done = terminated ∨ truncated: the bootstrap stops only at true terminals, the recursion at
    every episode end.
    """
    if not (rewards.shape == values.shape == next_values.shape == terminated.shape == truncated.shape):
        raise ValueError("gae: rewards, values, next_values, terminated, truncated must share shape (T, N)")
    not_terminal = 1.0 - terminated.float()
    not_done = 1.0 - torch.logical_or(terminated.bool(), truncated.bool()).float()
    deltas = rewards + gamma * not_terminal * next_values - values
    advantages = torch.empty_like(deltas)
    running = torch.zeros_like(deltas[0])
    for t in reversed(range(deltas.shape[0])):
        running = deltas[t] + gamma * gae_lambda * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values


@torch.no_grad()
def n_step_returns(
    rewards: torch.Tensor, terminated: torch.Tensor, truncated: torch.Tensor, gamma: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Fold a window of n consecutive transitions into one n-step transition (for DQN).

    Args:
        rewards, terminated, truncated: shape (n, ...) — the n transitions that start at the
            same state, in time order.

    Returns:
        ``(return, discount, length)``: the discounted reward sum up to the first episode end
        within the window, the discount ``γ^k`` to apply to the bootstrap value of the state
        reached after ``k`` steps (0 if the window hit a terminal), and ``k`` (as a long tensor).
        The caller bootstraps from the next observation of step ``k - 1``.
    """
    n = rewards.shape[0]
    ended = torch.logical_or(terminated.bool(), truncated.bool()).float()
    # alive[k] = 1 while no episode end happened before step k inside the window
    alive = torch.cumprod(torch.cat([torch.ones_like(ended[:1]), 1.0 - ended[:-1]]), dim=0)
    powers = gamma ** torch.arange(n, dtype=torch.float32, device=rewards.device)
    powers = powers.view(n, *([1] * (rewards.dim() - 1)))
    ret = (alive * powers * rewards.float()).sum(0)
    length = alive.sum(0).long()
    hit_terminal = (alive * terminated.float()).sum(0) > 0
    discount = torch.where(hit_terminal, 0.0, gamma ** length.float())
    return ret, discount, length
