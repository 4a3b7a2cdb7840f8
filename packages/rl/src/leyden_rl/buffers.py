"""Preallocated experience storage: an on-policy rollout and an off-policy replay buffer.

Both are laid out time-major, (T, N, ...) for N environments, and allocated once: collection
writes into fixed tensors instead of growing lists. Image observations keep the env's ``uint8``
dtype (4× smaller than float); networks convert on the fly. The replay buffer is part of the
checkpoint (:meth:`ReplayBuffer.state_dict`), so a resumed off-policy run keeps its experience.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leyden_rl.advantages import n_step_returns


def torch_dtype(np_dtype: np.dtype) -> torch.dtype:
    """Storage dtype for an observation/action space: uint8 stays uint8, ints → long, else float32."""
    np_dtype = np.dtype(np_dtype)
    if np_dtype == np.uint8:
        return torch.uint8
    if np.issubdtype(np_dtype, np.integer):
        return torch.long
    return torch.float32


class RolloutBuffer:
    """One PPO rollout of ``num_steps`` steps from ``num_envs`` envs, reused every iteration."""

    def __init__(
        self,
        num_steps: int,
        num_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: torch.dtype,
        action_shape: tuple[int, ...],
        action_dtype: torch.dtype,
    ) -> None:
        t, n = num_steps, num_envs
        self.obs = torch.zeros((t, n, *obs_shape), dtype=obs_dtype)
        self.actions = torch.zeros((t, n, *action_shape), dtype=action_dtype)
        self.log_probs = torch.zeros((t, n))
        self.values = torch.zeros((t, n))
        self.rewards = torch.zeros((t, n))
        self.next_values = torch.zeros((t, n))  # V of the obs that followed step t (see advantages.gae)
        self.terminated = torch.zeros((t, n), dtype=torch.bool)
        self.truncated = torch.zeros((t, n), dtype=torch.bool)
        self.num_steps, self.num_envs = t, n


@dataclass
class ReplayBatch:
    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor  # (n-step) discounted reward sum
    next_obs: torch.Tensor  # observation to bootstrap from
    discount: torch.Tensor  # γ^k, or 0 when the window reached a terminal state


class ReplayBuffer:
    """Circular, time-major replay memory of ``capacity`` transitions over ``num_envs`` envs.

    ``next_obs`` holds the true successor of each step (the final observation when an episode
    ended there), so sampling never bootstraps across an episode boundary. :meth:`sample` builds
    n-step transitions from consecutive steps of the same env.
    """

    def __init__(
        self,
        capacity: int,
        num_envs: int,
        obs_shape: tuple[int, ...],
        obs_dtype: torch.dtype,
        action_shape: tuple[int, ...],
        action_dtype: torch.dtype,
    ) -> None:
        self.rows = max(1, capacity // num_envs)
        self.num_envs = num_envs
        shape = (self.rows, num_envs)
        self.obs = torch.zeros((*shape, *obs_shape), dtype=obs_dtype)
        self.next_obs = torch.zeros((*shape, *obs_shape), dtype=obs_dtype)
        self.actions = torch.zeros((*shape, *action_shape), dtype=action_dtype)
        self.rewards = torch.zeros(shape)
        self.terminated = torch.zeros(shape, dtype=torch.bool)
        self.truncated = torch.zeros(shape, dtype=torch.bool)
        self.pos = 0  # next row to write
        self.size = 0  # rows filled

    def __len__(self) -> int:
        return self.size * self.num_envs

    def add(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_obs: torch.Tensor,
        terminated: torch.Tensor,
        truncated: torch.Tensor,
    ) -> None:
        """Store one vector step: every tensor has the env dimension first."""
        p = self.pos
        self.obs[p] = obs
        self.actions[p] = actions
        self.rewards[p] = rewards
        self.next_obs[p] = next_obs
        self.terminated[p] = terminated
        self.truncated[p] = truncated
        self.pos = (p + 1) % self.rows
        self.size = min(self.size + 1, self.rows)

    def sample(
        self, batch_size: int, gamma: float, n_step: int = 1, generator: torch.Generator | None = None
    ):
        """Uniformly sample ``batch_size`` n-step transitions.

        A window of ``n_step`` rows starting at a sampled row must lie in written memory without
        crossing the write head; the n-step return stops early at an episode end.
        """
        valid = self.size - n_step + 1
        if valid <= 0:
            raise ValueError(f"replay buffer holds {self.size} rows, fewer than n_step={n_step}")
        start = (self.pos - self.size) % self.rows
        j = torch.randint(0, valid, (batch_size,), generator=generator)
        env = torch.randint(0, self.num_envs, (batch_size,), generator=generator)
        rows = (start + j) % self.rows
        if n_step == 1:
            discount = gamma * (~self.terminated[rows, env]).float()
            return ReplayBatch(
                self.obs[rows, env], self.actions[rows, env], self.rewards[rows, env],
                self.next_obs[rows, env], discount,
            )  # fmt: skip
        window = (rows[None] + torch.arange(n_step)[:, None]) % self.rows  # (n, B)
        ret, discount, length = n_step_returns(
            self.rewards[window, env], self.terminated[window, env], self.truncated[window, env], gamma
        )
        last = window.gather(0, (length - 1)[None]).squeeze(0)
        return ReplayBatch(
            self.obs[rows, env], self.actions[rows, env], ret, self.next_obs[last, env], discount
        )

    def state_dict(self) -> dict:
        fields = ("obs", "next_obs", "actions", "rewards", "terminated", "truncated")
        return {
            **{f: getattr(self, f)[: self.size].clone() for f in fields},
            "pos": self.pos,
            "size": self.size,
        }

    def load_state_dict(self, state: dict) -> None:
        size = state["size"]
        if size > self.rows:
            raise ValueError(f"checkpoint replay buffer has {size} rows, more than this buffer's {self.rows}")
        for f in ("obs", "next_obs", "actions", "rewards", "terminated", "truncated"):
            getattr(self, f)[:size] = state[f]
        self.pos, self.size = state["pos"], size
