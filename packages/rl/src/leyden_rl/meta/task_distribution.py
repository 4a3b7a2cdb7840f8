"""What RL² meta-learns over: a distribution of tasks, played as batches of whole trials.

A *trial* is one task drawn from the distribution and played for ``num_episodes`` episodes; the
agent's memory persists across the episodes of a trial and is wiped between trials. RL² needs only
three things of a task family, all batched and on the training device:

* :meth:`TaskDistribution.batch` — a stepper for ``num_trials`` trials side by side;
* :meth:`BatchedTasks.reset` — draw ``num_trials`` fresh tasks, return the first observations;
* :meth:`BatchedTasks.step` — take one action per trial, return ``(obs, reward, episode_done)``.

Every trial of a batch has the same length (``trial_length`` steps), so all trials start and end
together. At an episode end the stepper starts the next episode of the *same* task itself. What
the agent feeds its memory besides the observation — the previous action, reward and episode-end
flag — RL² adds itself, so a task family returns plain observations: a state, a vector, an image.

Training-only extras a family may offer (the policy never sees them): ``task_parameters()``, a
few numbers describing each trial's task that a critic may read and task inference may estimate,
and ``expected_reward``, E[r | s, a] of the last step, a lower-variance PPO target.

Implementations: :class:`~leyden_rl.meta.tasks.BernoulliBandits` and
:class:`~leyden_rl.meta.tasks.RandomTabularMDPs` (the paper's tables),
:class:`~leyden_rl.meta.gym_tasks.GymTasks` (any gymnasium env family).
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod

import numpy as np
import torch

from leyden_core.errors import LeydenConfigError


class BatchedTasks(ABC):
    """``num_envs`` trials stepped in lock step; :meth:`reset` starts new tasks, :meth:`step` one step of each.

    Attributes: ``num_envs``, ``trial_length``, ``t`` (steps taken in the current trial), ``generator``
    (the torch generator every task and transition is drawn from: a checkpoint saves its state),
    ``expected_reward`` ((N,) E[r | s, a] of the last step, or None where the family cannot say).
    """

    num_envs: int
    trial_length: int
    t: int
    generator: torch.Generator
    expected_reward: torch.Tensor | None = None

    @abstractmethod
    def reset(self) -> torch.Tensor:
        """Draw ``num_envs`` new tasks and start their first episode: observations (N, *obs_shape)."""

    @abstractmethod
    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One step of every trial: ``(obs, reward, episode_done)``, shapes (N, *obs_shape), (N,), (N,) bool.

        Where an episode ended, ``obs`` is already the first observation of the task's next episode."""

    def task_parameters(self) -> dict[str, torch.Tensor]:
        """The current tasks as named (N, width) tensors, for training only (a critic, task inference)."""
        return {}


class TaskDistribution(ABC):
    """A family of tasks: the shapes RL² builds its policy from, and :meth:`batch` to play them.

    Subclasses are small, picklable descriptions (dataclasses), so a config file can name one by
    ``class_path`` and a checkpoint can record it.
    """

    num_episodes: int
    # whether the stepper sets ``expected_reward`` (what RL2's ``expected_rewards`` trains on)
    has_expected_rewards = False

    @property
    @abstractmethod
    def obs_shape(self) -> tuple[int, ...]:
        """Shape of one observation (without the previous action, reward and done RL² adds)."""

    @property
    @abstractmethod
    def num_actions(self) -> int:
        """Size of the discrete action space."""

    @property
    @abstractmethod
    def trial_length(self) -> int:
        """Steps in one trial (every trial of a batch has this many)."""

    @property
    def task_sizes(self) -> dict[str, int]:
        """Name and width of each of :meth:`BatchedTasks.task_parameters`; empty: the family offers none."""
        return {}

    @abstractmethod
    def batch(self, num_trials: int, seed: int, device: torch.device | str = "cpu") -> BatchedTasks:
        """A stepper for ``num_trials`` trials drawn with ``seed``."""

    def with_episodes(self, num_episodes: int) -> TaskDistribution:
        """The same family with ``num_episodes`` episodes per trial (for a curriculum of shorter trials)."""
        raise LeydenConfigError(
            f"{type(self).__name__} cannot shorten its trials", "leave curriculum_episodes unset"
        )


def stream_generator(seed: int, stream: str) -> torch.Generator:
    """A torch generator for one named random stream of ``seed``.

    The env and each agent draw from *different* streams of the same seed: were both seeded with
    the same integer, an agent's tie-breaking noise would replay the env's task draws and leak
    the task to it.
    """
    state = np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))
