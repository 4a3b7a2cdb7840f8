"""What the replay-based continuous-control methods (SAC, TD3, DDPG) share: collection into replay.

Each iteration acts for ``train_freq`` vector steps — uniformly random actions before
``learning_starts`` env steps, the method's exploration policy (:meth:`OffPolicyModule.explore`)
after — stores every transition with its true successor observation (the final one where an
episode ended) in the replay buffer, then lets the method update (:meth:`OffPolicyModule.update`).
The replay buffer and the update counter are part of the checkpoint.
"""

from __future__ import annotations

from typing import Any

import torch

from leyden_rl.base import OnlineRLModule
from leyden_rl.buffers import ReplayBuffer, torch_dtype
from leyden_rl.networks import action_dim


class OffPolicyModule(OnlineRLModule):
    """Base class; the subclass sets ``self.config`` (with ``train_freq`` and ``learning_starts``),
    ``self.buffer`` (e.g. from :meth:`build_buffer`) and ``self.updates = 0``, and defines
    :meth:`explore` and :meth:`update`."""

    # Every env step trains actor and critics (256-wide MLPs or a CNN) on a batch of 256: matmuls big
    # enough for every idle core to help (SAC on Pendulum, 3k steps: 56.7 s with one thread, 45.0 s with
    # two; benchmarks/threads.py), so the machine's idle cores decide, not a preference for one thread.
    preferred_num_threads = None
    config: Any
    buffer: Any
    updates: int

    def build_buffer(self, capacity: int) -> Any:
        """A replay buffer of ``capacity`` transitions for this env's observations and Box actions."""
        space = self.observation_space
        n_act = action_dim(self.action_space)
        return ReplayBuffer(
            capacity, self.num_envs, space.shape, torch_dtype(space.dtype), (n_act,), torch.float32
        )

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        """Actions (within the env's bounds) the behaviour policy takes in ``obs`` while collecting."""
        raise NotImplementedError

    def update(self) -> dict[str, float]:
        """The method's gradient steps on replay; returns metrics to log."""
        raise NotImplementedError

    @property
    def steps_per_iteration(self) -> int:
        return self.config.num_envs * self.config.train_freq * self.action_repeat

    # ---------------------------------------------------------------------------- 1. collect
    @torch.no_grad()
    def collect(self) -> None:
        obs = self.obs
        for _ in range(self.config.train_freq):
            if self.env_steps < self.config.learning_starts:
                actions = self.envs.action_space.sample()  # seeded with the run's seed (make_vector_env)
            else:
                actions = self.explore(obs).cpu().numpy()
            next_obs, reward, terminated, truncated, info = self.step_envs(actions)
            self.buffer.add(
                obs.cpu(), torch.from_numpy(actions).float(), torch.from_numpy(reward).float(),
                self.final_observations(next_obs, info).cpu(),
                torch.from_numpy(terminated), torch.from_numpy(truncated),
            )  # fmt: skip
            obs = next_obs
        self.obs = obs

    # ---------------------------------------------------------------------------- 2. update
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        self.collect()
        metrics: dict[str, Any] = {}
        if self.env_steps >= self.config.learning_starts:
            metrics = self.update()
        self.end_iteration(metrics)

    # ---------------------------------------------------------------------------- checkpoint
    def extra_state(self) -> dict[str, Any]:
        return {"replay": self.buffer.state_dict(), "updates": self.updates}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["replay"])
        self.updates = state.get("updates", 0)
