"""Any gymnasium environment family as an RL² task distribution.

A user brings two functions: ``sample_task(rng)`` draws a task (anything: a goal, a map, a seed) from a
numpy generator, and ``make_env(task)`` builds the gymnasium env of that task. :class:`GymTasks` then
plays ``num_trials`` tasks side by side, one env each, in lock step: every trial is
``num_episodes × max_episode_steps`` steps, and an episode that ends (terminated, truncated, or after
``max_episode_steps`` steps) is followed at once by another of the same task, so an agent that reaches
its goal sooner plays more episodes of it. Discrete observations arrive one-hot, Box ones as floats;
actions must be Discrete.

Stepping is one Python call per env and step (no vectorisation), which suits small envs; a family
that is cheap to batch in torch is faster as its own :class:`~leyden_rl.meta.task_distribution.TaskDistribution`.

    leyden fit --model RL2 --model.tasks GymTasks \\
        --model.tasks.make_env my_package.make_env --model.tasks.sample_task my_package.sample_task
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.pieces import import_object
from leyden_rl.meta.task_distribution import BatchedTasks, TaskDistribution, stream_generator


@dataclass(frozen=True)
class GymTasks(TaskDistribution):
    """A family of gymnasium envs, one per task.

    Args:
        make_env: ``task → gym.Env`` (or its import path).
        sample_task: ``numpy.random.Generator → task`` (or its import path).
        num_episodes: episodes' worth of steps per trial.
        max_episode_steps: the longest an episode may run; a trial is ``num_episodes`` times this.
        task_features: optional ``task → sequence of floats`` (or its import path): what a task-reading
            critic reads and ``TaskInference`` estimates, in training only.
    """

    make_env: Callable[[Any], gym.Env] | str
    sample_task: Callable[[np.random.Generator], Any] | str
    num_episodes: int = 2
    max_episode_steps: int = 100
    task_features: Callable[[Any], Sequence[float]] | str | None = None

    def __post_init__(self) -> None:
        for name in ("make_env", "sample_task", "task_features"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, import_object(getattr(self, name)))
        if self.num_episodes < 1 or self.max_episode_steps < 1:
            raise LeydenConfigError(
                f"GymTasks(num_episodes={self.num_episodes}, max_episode_steps={self.max_episode_steps}) plays no steps",
                "use num_episodes >= 1 and max_episode_steps >= 1",
            )
        if not isinstance(self._probe.action_space, gym.spaces.Discrete):
            raise LeydenConfigError(
                f"RL² acts in a Discrete action space; this family's is {self._probe.action_space}",
                "wrap the env so its actions are discrete",
            )

    @cached_property
    def _probe(self) -> gym.Env:
        """One env of one task, for its spaces."""
        return self.make_env(self.sample_task(np.random.default_rng(0)))

    @property
    def obs_shape(self) -> tuple[int, ...]:
        space = self._probe.observation_space
        return (int(space.n),) if isinstance(space, gym.spaces.Discrete) else tuple(space.shape)

    @property
    def num_actions(self) -> int:
        return int(self._probe.action_space.n)

    @property
    def trial_length(self) -> int:
        return self.num_episodes * self.max_episode_steps

    @property
    def task_sizes(self) -> dict[str, int]:
        if self.task_features is None:
            return {}
        return {"task": len(self.task_features(self.sample_task(np.random.default_rng(0))))}

    def batch(self, num_trials: int, seed: int, device: torch.device | str = "cpu") -> GymTrials:
        return GymTrials(self, num_trials, seed, device)

    def with_episodes(self, num_episodes: int) -> GymTasks:
        return GymTasks(
            self.make_env, self.sample_task, num_episodes, self.max_episode_steps, self.task_features
        )


class GymTrials(BatchedTasks):
    """``num_envs`` envs of :class:`GymTasks`, one task each, stepped in lock step."""

    def __init__(
        self, family: GymTasks, num_envs: int, seed: int, device: torch.device | str = "cpu"
    ) -> None:
        self.family, self.num_envs, self.device = family, num_envs, torch.device(device)
        self.trial_length = family.trial_length
        self.generator = stream_generator(seed, "env")  # tasks and env seeds are drawn from it

    def reset(self) -> torch.Tensor:
        seeds = torch.randint(2**62, (self.num_envs + 1,), generator=self.generator).tolist()
        rng = np.random.default_rng(seeds[-1])
        self.tasks = [self.family.sample_task(rng) for _ in range(self.num_envs)]
        self.envs = [self.family.make_env(task) for task in self.tasks]
        self.episode_steps = np.zeros(self.num_envs, dtype=np.int64)
        self.t = 0
        return self._stack([env.reset(seed=s)[0] for env, s in zip(self.envs, seeds)])

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.t >= self.trial_length:
            raise RuntimeError("the trial is over: call reset() before stepping again")
        observations, rewards, dones = [], [], []
        self.episode_steps += 1
        for i, (env, action) in enumerate(zip(self.envs, actions.tolist())):
            obs, reward, terminated, truncated, _ = env.step(action)
            done = terminated or truncated or self.episode_steps[i] >= self.family.max_episode_steps
            if done:
                obs, _ = env.reset()
                self.episode_steps[i] = 0
            observations.append(obs)
            rewards.append(float(reward))
            dones.append(done)
        self.t += 1
        return (
            self._stack(observations),
            torch.tensor(rewards, dtype=torch.float32, device=self.device),
            torch.tensor(dones, device=self.device),
        )

    def task_parameters(self) -> dict[str, torch.Tensor]:
        if self.family.task_features is None:
            return {}
        features = [list(self.family.task_features(task)) for task in self.tasks]
        return {"task": torch.tensor(features, dtype=torch.float32, device=self.device)}

    def _stack(self, observations: list[Any]) -> torch.Tensor:
        obs = torch.as_tensor(np.stack(observations))
        if isinstance(self.envs[0].observation_space, gym.spaces.Discrete):
            obs = torch.nn.functional.one_hot(obs.long(), self.family.obs_shape[0])
        return obs.float().to(self.device)


def frozen_lake_map(rng: np.random.Generator, size: int = 4) -> tuple[str, ...]:
    """A random solvable FrozenLake map (gymnasium's generator, seeded from ``rng``): an example task sampler."""
    from gymnasium.envs.toy_text.frozen_lake import generate_random_map

    return tuple(generate_random_map(size=size, seed=int(rng.integers(2**31))))


def frozen_lake(task: tuple[str, ...]) -> gym.Env:
    """The deterministic FrozenLake env of a map (``+1`` at the goal): an example ``make_env``."""
    return gym.make("FrozenLake-v1", desc=list(task), is_slippery=False)
