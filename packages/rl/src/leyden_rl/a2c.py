"""Synchronous advantage actor-critic, A2C (the synchronous form of Mnih et al., 2016's A3C).

Each ``training_step`` collects a short rollout (``num_steps`` = 5 steps of every env by default)
with the rollout and GAE code PPO uses (:mod:`leyden_rl.on_policy`; ``gae_lambda = 1`` gives
A3C's n-step returns) and takes *one* RMSprop step on ``−log π(a|s)·A + c_v·½(V − R)² − c_e·H``.

That update is PPO's update (:class:`~leyden_rl.ppo.PPOUpdate`) with one epoch over one
minibatch holding the whole rollout: the ratio π_θ/π_old is then 1 at the only gradient step, where
the clipped surrogate's gradient is exactly the policy gradient ``A·∇log π``. So A2C reuses it with
those knobs fixed rather than keeping a second copy of the loss, schedules and gradient clipping.
Defaults are Stable-Baselines3's (RMSprop with α = 0.99, ε = 1e-5, lr 7e-4, max-grad-norm 0.5; the value
weight c_v = 1 on ½(V − R)² is SB3's 0.5 on (V − R)²).
"""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import torch

from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_rl.on_policy import OnPolicyModule
from leyden_rl.ppo import PPOUpdate


class A2C(PPOUpdate, OnPolicyModule):
    """A2C for Discrete or Box actions with Stable-Baselines3's defaults.

    Args:
        env_id, num_envs, num_steps, total_env_steps, seed, vectorization, env_kwargs: as for PPO.
        learning_rate, anneal_lr: RMSprop step size, linearly decayed to 0 when ``anneal_lr``.
        rms_prop_alpha, rms_prop_eps: RMSprop's smoothing constant and ε.
        gamma, gae_lambda: discount and GAE λ (1 = n-step returns, as in A3C).
        ent_coef, vf_coef, max_grad_norm, normalize_advantage: loss weights and switches.
        hidden_sizes, activation: MLP shape (ignored for image observations).
        normalize_observations, normalize_rewards: standardise observations, scale rewards by the
            discounted return's running std (as Stable-Baselines3's ``VecNormalize``).
        log_std_init, orthogonal_init, use_sde, sde_sample_freq: the Gaussian's initial log-std, orthogonal
            initialisation, and gSDE exploration (:class:`~leyden_rl.on_policy.OnPolicyModule`).
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        num_envs: int = 8,
        num_steps: int = 5,
        total_env_steps: int = 500_000,
        learning_rate: float = 7e-4,
        anneal_lr: bool = False,
        rms_prop_alpha: float = 0.99,
        rms_prop_eps: float = 1e-5,
        gamma: float = 0.99,
        gae_lambda: float = 1.0,
        ent_coef: float = 0.0,
        vf_coef: float = 1.0,
        max_grad_norm: float = 0.5,
        normalize_advantage: bool = False,
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
        check_positive("learning_rate", learning_rate, 7e-4)
        check_positive("rms_prop_eps", rms_prop_eps, 1e-5)
        check_positive("max_grad_norm", max_grad_norm, 0.5)
        for name, value, example in (
            ("rms_prop_alpha", rms_prop_alpha, 0.99), ("gamma", gamma, 0.99), ("gae_lambda", gae_lambda, 1.0),
        ):  # fmt: skip
            check_fraction(name, value, example)
        check_non_negative("ent_coef", ent_coef, 0.0)
        check_non_negative("vf_coef", vf_coef, 1.0)
        check_count("num_envs", num_envs)
        check_count("num_steps", num_steps)
        super().__init__(
            env_id, num_envs, num_steps, total_env_steps, seed, vectorization, env_kwargs,
            hidden_sizes, activation, normalize_observations, normalize_rewards,
            log_std_init, orthogonal_init, use_sde, sde_sample_freq,
        )  # fmt: skip
        self.save_hyperparameters()

    @property
    def ppo_hparams(self) -> Any:
        """PPO's update with one epoch, no clipping (ratio = 1) and no value clipping: A2C's update."""
        return SimpleNamespace(
            **self.hparams,
            update_epochs=1,
            clip_range=0.2,
            anneal_clip=False,
            clip_range_vf=None,
            anneal_ent=False,
        )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.RMSprop(
            self.policy.parameters(), lr=hp.learning_rate, alpha=hp.rms_prop_alpha, eps=hp.rms_prop_eps
        )

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        progress = self.env_steps / self.hparams.total_env_steps
        data = self.rollout_with_advantages(self.hparams.gamma, self.hparams.gae_lambda)
        metrics = self.ppo_update(data, progress)
        for diagnostic in ("train/approx_kl", "train/clip_fraction", "train/clip_range"):
            metrics.pop(diagnostic, None)  # PPO's trust-region diagnostics; constant for one step
        self.end_iteration(metrics)

    def minibatches(self, data: dict[str, torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        """The whole rollout as one batch."""
        yield {k: v.flatten(0, 1) for k, v in data.items()}

    def evaluate_actions(
        self, mb: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.policy.evaluate(mb["obs"], mb["actions"])
