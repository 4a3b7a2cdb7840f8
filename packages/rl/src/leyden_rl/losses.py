"""Losses and targets of Leyden's RL methods: pure functions, tensors in, tensors out.

No state and no collectives: DDP averages the gradients of these losses across ranks, and
the recurrent RL² variant reuses the PPO losses unchanged (see :mod:`leyden_rl.ppo`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

# ----------------------------------------------------------------------------------------- PPO


def normalize_advantages(advantages: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero-mean, unit-variance advantages within a minibatch (PPO's "adv-norm")."""
    if advantages.numel() < 2:
        return advantages
    return (advantages - advantages.mean()) / (advantages.std() + eps)


def ppo_policy_loss(
    new_log_prob: torch.Tensor, old_log_prob: torch.Tensor, advantages: torch.Tensor, clip_range: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PPO's clipped surrogate objective (Schulman et al., 2017, eq. 7), negated to minimise.

    Returns ``(loss, approx_kl, clip_fraction)``; the last two are diagnostics without gradient
    (``approx_kl`` is the low-variance estimator ``E[(r − 1) − log r]``).
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = log_ratio.exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_range, 1.0 + clip_range) * advantages
    loss = -torch.minimum(unclipped, clipped).mean()
    with torch.no_grad():
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = ((ratio - 1.0).abs() > clip_range).float().mean()
    return loss, approx_kl, clip_fraction


def value_loss(
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor | None = None,
    clip_range: float | None = None,
) -> torch.Tensor:
    """Squared error of the value head; with ``clip_range``, PPO2's clipped variant.

    Clipping keeps the new value within ``clip_range`` of the value at collection time and takes
    the larger of the clipped/unclipped errors (a pessimistic bound, as for the policy).
    Returns ``0.5 * mean(error²)``.
    """
    if clip_range is None:
        return 0.5 * (values - returns).pow(2).mean()
    if old_values is None:
        raise ValueError("value_loss: clip_range needs old_values")
    clipped = old_values + (values - old_values).clamp(-clip_range, clip_range)
    return 0.5 * torch.maximum((values - returns).pow(2), (clipped - returns).pow(2)).mean()


def entropy_bonus(entropy: torch.Tensor) -> torch.Tensor:
    """Mean policy entropy; the PPO loss subtracts ``ent_coef *`` this to keep exploring."""
    return entropy.mean()


def ppo_loss(
    new_log_prob: torch.Tensor,
    old_log_prob: torch.Tensor,
    advantages: torch.Tensor,
    values: torch.Tensor,
    returns: torch.Tensor,
    old_values: torch.Tensor,
    entropy: torch.Tensor,
    clip_range: float,
    clip_range_vf: float | None,
    vf_coef: float,
    ent_coef: float,
    normalize_advantage: bool = True,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total PPO minibatch loss ``L_clip + c_v L_V − c_e H`` and its parts (detached) for logging."""
    if normalize_advantage:
        advantages = normalize_advantages(advantages)
    pg_loss, approx_kl, clip_fraction = ppo_policy_loss(new_log_prob, old_log_prob, advantages, clip_range)
    v_loss = value_loss(values, returns, old_values, clip_range_vf)
    ent = entropy_bonus(entropy)
    loss = pg_loss + vf_coef * v_loss - ent_coef * ent
    parts = {
        "policy_loss": pg_loss.detach(),
        "value_loss": v_loss.detach(),
        "entropy": ent.detach(),
        "approx_kl": approx_kl,
        "clip_fraction": clip_fraction,
    }
    return loss, parts


# ----------------------------------------------------------------------------------------- DQN


@torch.no_grad()
def td_target(rewards: torch.Tensor, next_q: torch.Tensor, discount: torch.Tensor | float) -> torch.Tensor:
    """One- or n-step TD target ``r + discount · Q_next``; ``discount`` is 0 after a terminal.

    With n-step returns, ``rewards`` is the discounted n-step sum and ``discount = γ^n`` (see
    :func:`leyden_rl.advantages.n_step_returns`).
    """
    return rewards + discount * next_q


@torch.no_grad()
def double_dqn_next_q(online_next_q: torch.Tensor, target_next_q: torch.Tensor) -> torch.Tensor:
    """Double DQN (van Hasselt et al., 2016): the online net picks ``a*``, the target net values it.

    Both inputs are (B, A); returns (B,). Decoupling selection from evaluation removes the
    max-operator's overestimation bias of vanilla DQN.
    """
    best = online_next_q.argmax(dim=1, keepdim=True)
    return target_next_q.gather(1, best).squeeze(1)


def dqn_loss(q_taken: torch.Tensor, target: torch.Tensor, huber: bool = True) -> torch.Tensor:
    """Huber (smooth-L1, δ = 1) or squared TD error between Q(s, a) and its target."""
    if huber:
        return F.smooth_l1_loss(q_taken, target)
    return F.mse_loss(q_taken, target)


# ----------------------------------------------------------------------------------------- SAC


@torch.no_grad()
def sac_q_target(
    rewards: torch.Tensor,
    next_q1: torch.Tensor,
    next_q2: torch.Tensor,
    next_log_prob: torch.Tensor,
    alpha: torch.Tensor | float,
    discount: torch.Tensor | float,
) -> torch.Tensor:
    """Soft Bellman target ``r + discount · (min(Q1', Q2') − α log π(a'|s'))`` (clipped double-Q)."""
    return rewards + discount * (torch.minimum(next_q1, next_q2) - alpha * next_log_prob)


def sac_critic_loss(q1: torch.Tensor, q2: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Twin-Q regression to the shared soft target: ``½·MSE(Q1) + ½·MSE(Q2)`` summed."""
    return 0.5 * (F.mse_loss(q1, target) + F.mse_loss(q2, target))


def sac_actor_loss(
    log_prob: torch.Tensor, q1: torch.Tensor, q2: torch.Tensor, alpha: torch.Tensor | float
) -> torch.Tensor:
    """Policy loss ``E[α log π(a|s) − min(Q1, Q2)(s, a)]`` with ``a`` reparameterised from π."""
    return (alpha * log_prob - torch.minimum(q1, q2)).mean()


def sac_alpha_loss(log_alpha: torch.Tensor, log_prob: torch.Tensor, target_entropy: float) -> torch.Tensor:
    """Automatic entropy tuning (Haarnoja et al., 2018b): drive the policy's entropy to the target.

    Minimising ``−log α · (log π + H_target)`` raises α when entropy is below target and lowers it
    when above. Optimising ``log α`` keeps α positive.
    """
    return -(log_alpha * (log_prob.detach() + target_entropy)).mean()


# ----------------------------------------------------------------------------- behaviour cloning

BC_LOSSES = ("cross_entropy", "mse", "gaussian_nll")


def behaviour_cloning_loss(
    output: torch.Tensor, actions: torch.Tensor, kind: str, log_std: torch.Tensor | None = None
) -> torch.Tensor:
    """Negative log-likelihood of the expert's actions under the policy (behaviour cloning).

    * ``cross_entropy``: ``output`` are logits (..., A), ``actions`` integer indices — the exact
      NLL of a categorical policy.
    * ``mse``: ``output`` is the action mean; ``½·‖a − μ‖²`` is the Gaussian NLL with a fixed unit
      variance up to a constant. Right for a deterministic expert: the variance carries no
      information, and a learned one only rescales the gradient.
    * ``gaussian_nll``: diagonal Gaussian with the state-independent ``log_std`` learned too — for
      stochastic (e.g. human or noisy) demonstrations whose spread the policy should reproduce.
    """
    if kind == "cross_entropy":
        return F.cross_entropy(output.flatten(0, -2), actions.long().flatten())
    if kind == "mse":
        return 0.5 * (output - actions).pow(2).sum(-1).mean()
    if kind == "gaussian_nll":
        z = (actions - output) / log_std.exp()
        return (0.5 * z.pow(2) + log_std).sum(-1).mean()
    raise ValueError(f"unknown behaviour cloning loss {kind!r}; use one of {BC_LOSSES}")


# ----------------------------------------------------------------------------------------- CURL


def curl_contrastive_loss(z_anchor: torch.Tensor, z_key: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """CURL's InfoNCE (Laskin et al., 2020): bilinear logits ``z_aᵀ W z_k`` between every anchor and
    every key of the batch; each anchor's positive is its own key (the diagonal), the others are
    negatives. Subtracting each row's max changes no softmax but keeps the logits in range.
    """
    logits = z_anchor @ w @ z_key.T
    logits = logits - logits.max(dim=1, keepdim=True).values
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


# ----------------------------------------------------------------------------------------- targets
