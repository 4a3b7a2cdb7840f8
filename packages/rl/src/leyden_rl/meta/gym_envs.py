"""The RL² task distributions as single gymnasium environments: one gymnasium episode = one trial.

``reset`` draws a new task from the distribution (or takes ``options={"task": ...}``, a task of
batch size 1 as :meth:`BernoulliBandits.sample` returns it); the observation is the same
``[one_hot(state), one_hot(prev_action), prev_reward, prev_done]`` vector as the batched env's, and
the gymnasium episode terminates after the trial's ``num_episodes × horizon`` steps. The inner
episode boundaries are visible to the agent only through ``prev_done`` (and ``info["episode_done"]``).
Use it with any gymnasium tooling; RL² trains on :class:`~leyden_rl.meta.tasks.BatchedTrialEnv`,
which steps thousands of trials at once.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from leyden_rl.meta.tasks import BernoulliBandits, RandomTabularMDPs, TabularTasks, encode_obs


class TrialEnv(gym.Env):
    """One trial of a tabular task family per gymnasium episode."""

    metadata = {"render_modes": []}

    def __init__(self, dist: TabularTasks) -> None:
        self.dist = dist
        width = dist.num_states + dist.num_actions + 2
        low, high = np.zeros(width, np.float32), np.ones(width, np.float32)
        if isinstance(dist, RandomTabularMDPs):  # Gaussian rewards are unbounded
            low[-2], high[-2] = -np.inf, np.inf
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)
        self.action_space = gym.spaces.Discrete(dist.num_actions)
        self.trial_length = dist.trial_length

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        task = (options or {}).get("task")
        if task is None:
            generator = torch.Generator().manual_seed(int(self.np_random.integers(2**62)))
            task = self.dist.sample(1, generator)
        self.reward_mean = self.dist.reward_mean(task)[0].numpy().astype(np.float64)  # (S, A)
        self.transitions = self.dist.transitions(task)[0].numpy().astype(np.float64)  # (S, A, S)
        self.state, self.t = 0, 0
        return self._obs(-1, 0.0, False), {}

    def step(self, action: int):
        action = int(action)
        mean = self.reward_mean[self.state, action]
        if isinstance(self.dist, BernoulliBandits):
            reward = float(self.np_random.random() < mean)
        else:
            reward = float(mean + self.dist.reward_noise_std * self.np_random.standard_normal())
        row = self.transitions[self.state, action]
        next_state = int(
            min(np.searchsorted(np.cumsum(row), self.np_random.random(), side="right"), len(row) - 1)
        )
        self.t += 1
        episode_done = self.t % self.dist.horizon == 0
        self.state = 0 if episode_done else next_state
        terminated = self.t == self.trial_length
        return (
            self._obs(action, reward, episode_done),
            reward,
            terminated,
            False,
            {"episode_done": episode_done},
        )

    def _obs(self, prev_action: int, prev_reward: float, prev_done: bool) -> np.ndarray:
        obs = encode_obs(
            torch.tensor([self.state]), torch.tensor([prev_action]), torch.tensor([prev_reward]),
            torch.tensor([float(prev_done)]), self.dist.num_states, self.dist.num_actions,
        )  # fmt: skip
        return obs[0].numpy()


def BernoulliBanditEnv(num_arms: int = 5, num_pulls: int = 10) -> TrialEnv:  # noqa: N802 (reads as a class)
    """Gymnasium env of k-armed Bernoulli bandit trials of n pulls."""
    return TrialEnv(BernoulliBandits(num_arms, num_pulls))


def TabularMDPEnv(num_episodes: int = 10, **kwargs: Any) -> TrialEnv:  # noqa: N802
    """Gymnasium env of random tabular-MDP trials of ``num_episodes`` episodes."""
    return TrialEnv(RandomTabularMDPs(num_episodes=num_episodes, **kwargs))
