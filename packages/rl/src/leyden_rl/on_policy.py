"""What the on-policy methods (PPO, A2C, TRPO) share: an actor-critic, its rollout, and GAE(λ).

Each iteration of an on-policy method collects ``num_steps`` steps from each of ``num_envs`` envs
with the current policy (:meth:`OnPolicyModule.collect_rollout`), then computes GAE(λ) advantages
and value targets (:meth:`OnPolicyModule.rollout_with_advantages`). A time-limit truncation
bootstraps from V(final observation), a true termination from 0 (:func:`leyden_rl.advantages.gae`).
The methods differ only in how they turn that batch into a policy update.

Optionally (as Stable-Baselines3's ``VecNormalize``, which rl-zoo turns on for many tasks) the policy
sees observations standardised by their running mean and variance, and learns from rewards divided by
the running standard deviation of the discounted return; both are clipped to ±10, both statistics are
updated during collection only and are part of the checkpoint. Episode returns stay the env's own.
A recurrent policy
(:class:`~leyden_rl.recurrent_ppo.RecurrentPPO`) plugs into the same rollout through three hooks:
:meth:`~OnPolicyModule.make_policy`, :meth:`~OnPolicyModule.rollout_act` (carry the memory) and
:meth:`~OnPolicyModule.bootstrap_values` (read bootstrap observations with it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from leyden_core.checks import check_count
from leyden_core.errors import LeydenConfigError
from leyden_rl.advantages import gae
from leyden_rl.base import OnlineRLModule
from leyden_rl.buffers import RolloutBuffer, torch_dtype
from leyden_rl.networks import ActorCritic, action_dim, is_image_space

CLIP, EPSILON = 10.0, 1e-8  # as VecNormalize


class RunningMeanStd(nn.Module):
    """Mean and variance of everything passed to :meth:`update`, merged batch by batch (buffers: they
    follow the module to its device and into the checkpoint)."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.tensor(1e-4))  # VecNormalize's prior weight of (0, 1)

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        """Merge a (B, *shape) batch into the statistics."""
        batch = batch.float()
        n, batch_mean, batch_var = batch.shape[0], batch.mean(0), batch.var(0, unbiased=False)
        delta, total = batch_mean - self.mean, self.count + n
        m2 = self.var * self.count + batch_var * n + delta.square() * self.count * n / total
        self.mean += delta * n / total
        self.var.copy_(m2 / total)
        self.count.fill_(float(total))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` standardised by the statistics so far, clipped to ±10."""
        return ((x.float() - self.mean) / torch.sqrt(self.var + EPSILON)).clamp(-CLIP, CLIP)


class OnPolicyModule(OnlineRLModule):
    """Base class: ``self.policy`` (an :class:`~leyden_rl.networks.ActorCritic`) and ``self.rollout``.

    Args:
        num_steps: steps collected from each env per iteration.
        hidden_sizes, activation: the actor's and the critic's MLP shape (ignored for image observations).
        normalize_observations: standardise the policy's observations by their running statistics.
        normalize_rewards: divide rewards by the running std of the discounted return (``hparams.gamma``).
        log_std_init, orthogonal_init, use_sde: the policy's options (:class:`~leyden_rl.networks.ActorCritic`).
        sde_sample_freq: with ``use_sde``, draw new exploration matrices every this many steps of a
            rollout (−1: once per rollout, at its start).
        The others: :class:`~leyden_rl.base.OnlineRLModule`.
    """

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        num_steps: int,
        total_env_steps: int,
        seed: int,
        vectorization: str,
        env_kwargs: dict[str, Any] | None,
        hidden_sizes: tuple[int, ...],
        activation: str,
        normalize_observations: bool = False,
        normalize_rewards: bool = False,
        log_std_init: float = 0.0,
        orthogonal_init: bool = True,
        use_sde: bool = False,
        sde_sample_freq: int = -1,
    ) -> None:
        check_count("num_steps", num_steps)
        if sde_sample_freq == 0 or sde_sample_freq < -1:
            raise LeydenConfigError(
                f"sde_sample_freq must be -1 (once per rollout) or a number of steps >= 1, got {sde_sample_freq}",
                "e.g. sde_sample_freq: 4, or -1",
            )
        self.sde_sample_freq = sde_sample_freq
        self.policy_options = {
            "log_std_init": log_std_init,
            "orthogonal_init": orthogonal_init,
            "use_sde": use_sde,
        }
        super().__init__(env_id, num_envs, total_env_steps, seed, vectorization, env_kwargs)
        if normalize_observations and is_image_space(self.observation_space):
            raise LeydenConfigError(
                f"normalize_observations standardises vector observations; {env_id!r} gives images",
                "set normalize_observations: false (frames are scaled to [0, 1] by the encoder)",
            )
        self.obs_normalizer = RunningMeanStd(self.observation_space.shape) if normalize_observations else None
        self.return_normalizer = RunningMeanStd(()) if normalize_rewards else None
        self.discounted_return = torch.zeros(num_envs)
        self.policy = self.make_policy(tuple(hidden_sizes), activation)
        discrete = self.policy.discrete
        self.rollout = RolloutBuffer(
            num_steps, num_envs,
            self.observation_space.shape, torch_dtype(self.observation_space.dtype),
            () if discrete else (action_dim(self.action_space),), torch.long if discrete else torch.float32,
        )  # fmt: skip
        if not discrete:
            self._low = torch.as_tensor(self.action_space.low)
            self._high = torch.as_tensor(self.action_space.high)

    def make_policy(self, hidden_sizes: tuple[int, ...], activation: str) -> nn.Module:
        """The actor-critic (feed-forward: :class:`~leyden_rl.networks.ActorCritic`); it has ``discrete``."""
        return ActorCritic(
            self.observation_space, self.action_space, hidden_sizes, activation, **self.policy_options
        )

    @property
    def steps_per_iteration(self) -> int:
        return self.num_envs * self.rollout.num_steps

    def setup(self, stage: str) -> None:
        super().setup(stage)
        self.rollout = _to(self.rollout, self.device)
        self.discounted_return = self.discounted_return.to(self.device)

    def on_train_start(self) -> None:
        """The envs start new episodes (fresh, or re-seeded on resume): no discounted return so far."""
        super().on_train_start()
        self.discounted_return.zero_()

    def policy_observations(self, obs: torch.Tensor) -> torch.Tensor:
        """What the policy sees of ``obs``: as they are, or standardised (``normalize_observations``)."""
        return obs if self.obs_normalizer is None else self.obs_normalizer(obs)

    def training_rewards(self, reward: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """What the policy learns from: the env's rewards, or scaled by the discounted return's std."""
        if self.return_normalizer is None:
            return reward
        self.discounted_return = self.discounted_return * self.hparams.gamma + reward
        self.return_normalizer.update(self.discounted_return)
        scaled = reward / torch.sqrt(self.return_normalizer.var + EPSILON)
        self.discounted_return[done] = 0.0
        return scaled.clamp(-CLIP, CLIP)

    @torch.no_grad()
    def collect_rollout(self) -> None:
        """Fill ``self.rollout`` with ``num_steps`` steps of every env under the current policy."""
        ro, obs = self.rollout, self.obs
        truncated_finals: list[tuple[int, int, torch.Tensor]] = []
        for t in range(ro.num_steps):
            if self.obs_normalizer is not None:  # each obs once (the last: at the next rollout's t=0)
                self.obs_normalizer.update(obs)
            obs = self.policy_observations(obs)
            action, log_prob, value = self.rollout_act(obs, t)
            env_action = action.cpu().numpy()
            if not self.policy.discrete:
                env_action = np.clip(env_action, self.action_space.low, self.action_space.high)
            next_obs, reward, terminated, truncated, info = self.step_envs(env_action)
            ro.obs[t] = obs
            ro.actions[t] = action
            ro.log_probs[t] = log_prob
            ro.values[t] = value
            ro.terminated[t] = torch.from_numpy(terminated)
            ro.truncated[t] = torch.from_numpy(truncated)
            ro.rewards[t] = self.training_rewards(
                torch.from_numpy(reward).to(ro.rewards), ro.terminated[t] | ro.truncated[t]
            )
            for i in np.flatnonzero(truncated & ~terminated):
                final = self.policy_observations(self.to_tensor(info["final_obs"][i]))
                truncated_finals.append((t, int(i), final))
            obs = next_obs
        self.obs = obs
        # V of the observation after each step: the next step's value, the last obs for the final
        # step, and V(final_obs) where a time limit cut the episode (bootstrapping, not 0).
        ro.next_values[:-1] = ro.values[1:]
        ro.next_values[-1] = self.bootstrap_values(self.policy_observations(obs))
        if truncated_finals:
            finals = torch.stack([f for _, _, f in truncated_finals])
            v = self.bootstrap_values(finals, [(t, i) for t, i, _ in truncated_finals])
            for k, (t, i, _) in enumerate(truncated_finals):
                ro.next_values[t, i] = v[k]

    def rollout_act(self, obs: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(action, log_prob, value)`` of every env at step ``t`` of the rollout, π sampled.

        The hook a recurrent policy overrides to carry its memory from step to step.
        """
        if self.policy_options["use_sde"] and (
            t == 0 or (self.sde_sample_freq > 0 and t % self.sde_sample_freq == 0)
        ):
            self.policy.resample_exploration(len(obs))
        return self.policy.act(obs)

    def bootstrap_values(self, obs: torch.Tensor, steps: list[tuple[int, int]] | None = None) -> torch.Tensor:
        """V of observations that follow the rollout's steps: every env's current observation after the
        last step (``steps`` None), or the final observations of episodes a time limit cut at step t of
        env i (``steps``: their ``(t, i)``; a recurrent policy reads them with env i's memory after t)."""
        return self.policy.value(obs)

    def rollout_with_advantages(self, gamma: float, gae_lambda: float) -> dict[str, torch.Tensor]:
        """Collect one rollout; return its (T, N, ...) tensors with GAE(λ) ``advantages`` and ``returns``."""
        self.collect_rollout()
        ro = self.rollout
        advantages, returns = gae(
            ro.rewards, ro.values, ro.next_values, ro.terminated, ro.truncated, gamma, gae_lambda
        )
        return {
            "obs": ro.obs, "actions": ro.actions, "log_probs": ro.log_probs, "values": ro.values,
            "advantages": advantages, "returns": returns,
        }  # fmt: skip

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Actions for a batch of observations (the evaluation callback's interface)."""
        action = self.policy.act(self.policy_observations(obs), deterministic=deterministic)[0]
        return self.clip_to_bounds(action)

    def clip_to_bounds(self, action: torch.Tensor) -> torch.Tensor:
        """Box actions clipped to the action space's bounds; Discrete actions as they are."""
        if self.policy.discrete:
            return action
        return torch.maximum(torch.minimum(action, self._high.to(action)), self._low.to(action))


def _to(buffer: RolloutBuffer, device: torch.device) -> RolloutBuffer:
    for name, value in vars(buffer).items():
        if isinstance(value, torch.Tensor):
            setattr(buffer, name, value.to(device))
    return buffer
