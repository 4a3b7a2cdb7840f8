"""Auxiliary losses RL² may add to PPO's: each trains part of the policy's task head in training only.

An auxiliary loss asks for ``estimate_size`` outputs of the policy's task head (RL2 builds the head
with the sum of what its losses ask for and hands each its share) and turns them, with the trial's
task parameters (:meth:`~leyden_rl.meta.task_distribution.BatchedTasks.task_parameters`), into a
weighted scalar added to the PPO loss. The evaluated agent never sees a task.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.task_distribution import TaskDistribution


class AuxiliaryLoss(ABC):
    @abstractmethod
    def estimate_size(self, tasks: TaskDistribution) -> int:
        """How many task-head outputs this loss trains."""

    @abstractmethod
    def __call__(self, estimate: torch.Tensor, task: dict[str, torch.Tensor]) -> torch.Tensor:
        """Weighted loss of ``estimate`` (T, N, estimate_size) given the trials' task parameters (1, N, width)."""


@dataclass(frozen=True)
class TaskInference(AuxiliaryLoss):
    """Estimate the trial's task from the memory at every step, by squared error (Humplik et al., 2019).

    The minimiser is the posterior mean of the task given the history so far, so the loss teaches the
    memory to keep the statistics a Bayes-optimal policy acts on (on a bandit: each arm's mean), which
    PPO's sparse signal alone builds slowly.

    Args:
        coef: the loss's weight.
        target: which of the family's task parameters to estimate (e.g. ``reward_means``); None: all of them.
    """

    coef: float = 1.0
    target: str | None = None

    def __post_init__(self) -> None:
        if self.coef < 0:
            raise LeydenConfigError(
                f"TaskInference(coef={self.coef}) would reward a worse estimate of the task",
                "use a positive weight, e.g. 1 for MDPs, 10 for bandits",
            )

    def estimate_size(self, tasks: TaskDistribution) -> int:
        sizes = tasks.task_sizes
        if not sizes or (self.target is not None and self.target not in sizes):
            raise LeydenConfigError(
                f"TaskInference(target={self.target!r}): {type(tasks).__name__} offers task parameters {list(sizes)}",
                "name one of them as target (None: all), or drop TaskInference for this family",
            )
        return sizes[self.target] if self.target is not None else sum(sizes.values())

    def __call__(self, estimate: torch.Tensor, task: dict[str, torch.Tensor]) -> torch.Tensor:
        target = task[self.target] if self.target is not None else torch.cat(list(task.values()), -1)
        return self.coef * F.mse_loss(estimate, target.expand_as(estimate))
