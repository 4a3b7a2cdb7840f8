"""Proximal Policy Optimization (Schulman et al., 2017) with GAE(λ), as a LightningModule.

Each ``training_step`` is one PPO iteration:

1. collect ``num_steps`` steps from each of ``num_envs`` envs with the current policy;
2. compute GAE(λ) advantages (1 and 2 are shared with A2C and TRPO: :mod:`leyden_rl.on_policy`) — a time-limit truncation bootstraps from V(final observation), a
   true termination from 0 (:func:`leyden_rl.advantages.gae`);
3. :meth:`PPOUpdate.ppo_update`: ``update_epochs`` passes of minibatch SGD on the clipped
   objective, with optional value clipping, an entropy bonus, gradient-norm clipping, and linearly
   annealed learning rate and clip range.

Reuse point for recurrent variants (RL²): the update lives in the mixin :class:`PPOUpdate`, which
both :class:`PPO` and :class:`leyden_rl.meta.rl2.RL2` inherit. It takes a dict of (T, N, ...)
rollout tensors and touches the policy only through two methods each class defines —
``minibatches`` (PPO: shuffle all T·N steps; a recurrent policy splits along the env axis instead,
keeping each env's sequence whole) and ``evaluate_actions`` (PPO: the feed-forward policy; a
recurrent one replays the GRU from the hidden state stored at the start of the rollout). Losses,
schedules, gradient clipping and DDP gradient averaging stay shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch

from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_rl.base import linear_schedule
from leyden_rl.losses import ppo_loss
from leyden_rl.on_policy import OnPolicyModule


class PPOUpdate:
    """PPO's update over one batch of rollouts, mixed into a manual-optimization LightningModule.

    The host class provides ``self.policy`` (the module whose gradient norm is clipped), hparams
    ``learning_rate, anneal_lr, clip_range, anneal_clip, clip_range_vf, update_epochs, vf_coef,
    ent_coef, anneal_ent, max_grad_norm, normalize_advantage``, and the two policy-specific methods below.
    """

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Split one update's (T, N, ...) tensors into minibatches."""
        raise NotImplementedError

    def evaluate_actions(self, mb: dict[str, torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """``(log_prob, entropy, value)`` of the minibatch's actions under the current policy, optionally
        followed by an auxiliary loss (a scalar, already weighted) that is added to PPO's."""
        raise NotImplementedError

    @property
    def ppo_hparams(self) -> Any:
        """The knobs listed above; the host's hparams (a host that fixes some of them overrides this)."""
        return self.hparams

    def ppo_update(self, data: dict[str, torch.Tensor], progress: float) -> dict[str, float]:
        """``update_epochs`` × minibatch passes of the PPO loss over one rollout.

        ``data`` holds (T, N, ...) tensors ``obs, actions, log_probs, values, advantages, returns``
        (plus anything the host's :meth:`minibatches`/:meth:`evaluate_actions` need).
        ``progress`` ∈ [0, 1] drives the learning-rate, clip-range and entropy-bonus annealing.
        """
        hp = self.ppo_hparams
        opt = self.optimizers()
        lr = linear_schedule(hp.learning_rate, progress, hp.anneal_lr)
        for group in opt.param_groups:
            group["lr"] = lr
        clip = linear_schedule(hp.clip_range, progress, hp.anneal_clip)
        ent_coef = linear_schedule(hp.ent_coef, progress, hp.anneal_ent)
        sums: dict[str, float] = {}
        n = 0
        for _ in range(hp.update_epochs):
            for mb in self.minibatches(data):
                log_prob, entropy, value, *auxiliary = self.evaluate_actions(mb)
                loss, parts = ppo_loss(
                    log_prob, mb["log_probs"], mb["advantages"], value, mb["returns"], mb["values"], entropy,
                    clip, hp.clip_range_vf, hp.vf_coef, ent_coef, hp.normalize_advantage,
                )  # fmt: skip
                if auxiliary:
                    loss = loss + auxiliary[0]
                    parts["auxiliary_loss"] = auxiliary[0].detach()
                opt.zero_grad(set_to_none=True)
                self.manual_backward(loss)
                torch.nn.utils.clip_grad_norm_(self.policy.parameters(), hp.max_grad_norm)
                opt.step()
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0.0) + v
                n += 1
        metrics = {f"train/{k}": float(v) / n for k, v in sums.items()}
        metrics.update({"train/lr": lr, "train/clip_range": clip, "train/ent_coef": ent_coef})
        return metrics


class PPO(PPOUpdate, OnPolicyModule):
    """PPO for Discrete or Box actions; MLP policies for vectors, a shared NatureCNN for image stacks.

    Args:
        env_id: gymnasium id ("CartPole-v1", "ALE/Pong-v5", "HalfCheetah-v5", ...).
        num_envs, num_steps: rollout shape per rank; one iteration collects ``num_envs·num_steps`` steps.
        total_env_steps: budget of env steps on this rank; training stops there.
        batch_size: minibatch size; update_epochs: passes over each rollout.
        learning_rate, anneal_lr: Adam step size, linearly decayed to 0 when ``anneal_lr``.
        clip_range, anneal_clip: PPO's ε, likewise optionally decayed.
        clip_range_vf: clip the value update to this range around the old value (None = off).
        gamma, gae_lambda: discount and GAE λ.
        ent_coef, vf_coef, max_grad_norm, normalize_advantage: the usual loss weights and switches.
        anneal_ent: decay the entropy bonus linearly to 0 over training, as the learning rate.
        hidden_sizes, activation: MLP shape (ignored for image observations).
        normalize_observations, normalize_rewards: standardise observations, scale rewards by the
            discounted return's running std (as Stable-Baselines3's ``VecNormalize``; :mod:`leyden_rl.on_policy`).
        log_std_init, orthogonal_init, use_sde, sde_sample_freq: the Gaussian's initial log-std, orthogonal
            initialisation, and gSDE exploration (:class:`~leyden_rl.on_policy.OnPolicyModule`).
        seed: base seed; envs get ``seed + 1000·rank + i``.
        vectorization: "sync" or "async" vector env.
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        num_envs: int = 8,
        num_steps: int = 32,
        total_env_steps: int = 100_000,
        batch_size: int = 256,
        update_epochs: int = 20,
        learning_rate: float = 1e-3,
        anneal_lr: bool = True,
        clip_range: float = 0.2,
        anneal_clip: bool = True,
        clip_range_vf: float | None = None,
        gamma: float = 0.98,
        gae_lambda: float = 0.8,
        ent_coef: float = 0.0,
        anneal_ent: bool = False,
        vf_coef: float = 0.5,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = True,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        log_std_init: float = 0.0,
        orthogonal_init: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        for name, value, example in (("learning_rate", learning_rate, 3e-4), ("clip_range", clip_range, 0.2)):
            check_positive(name, value, example)
        check_positive("max_grad_norm", max_grad_norm, 0.5)
        for name, value, example in (("gamma", gamma, 0.99), ("gae_lambda", gae_lambda, 0.95)):
            check_fraction(name, value, example)
        check_non_negative("ent_coef", ent_coef, 0.0)
        check_non_negative("vf_coef", vf_coef, 0.5)
        for name, value in (
            ("num_envs", num_envs),
            ("num_steps", num_steps),
            ("update_epochs", update_epochs),
        ):
            check_count(name, value)
        check_count("batch_size", batch_size)
        if batch_size > num_envs * num_steps:
            raise LeydenConfigError(
                f"batch_size {batch_size} is larger than a rollout (num_envs·num_steps = {num_envs * num_steps})",
                f"set batch_size <= {num_envs * num_steps}, or collect more per rollout (num_steps)",
            )
        super().__init__(
            env_id, num_envs, num_steps, total_env_steps, seed, vectorization, env_kwargs,
            hidden_sizes, activation, normalize_observations, normalize_rewards,
            log_std_init, orthogonal_init, use_sde, sde_sample_freq,
        )  # fmt: skip
        self.save_hyperparameters()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.policy.parameters(), lr=self.hparams.learning_rate, eps=1e-5, fused=True)

    # ---------------------------------------------------------------------------- 1 + 2 + 3
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        progress = self.env_steps / self.hparams.total_env_steps
        data = self.rollout_with_advantages(self.hparams.gamma, self.hparams.gae_lambda)
        metrics = self.ppo_update(data, progress)
        self.end_iteration(metrics)

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """Shuffle all T·N steps into minibatches of ``batch_size``."""
        flat = {k: v.flatten(0, 1) for k, v in data.items()}
        total = next(iter(flat.values())).shape[0]
        perm = torch.randperm(total, device=self.device)
        for start in range(0, total, self.hparams.batch_size):
            idx = perm[start : start + self.hparams.batch_size]
            yield {k: v[idx] for k, v in flat.items()}

    def evaluate_actions(
        self, mb: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(log_prob, entropy, value)`` of the minibatch's actions under the current policy."""
        return self.policy.evaluate(mb["obs"], mb["actions"])
