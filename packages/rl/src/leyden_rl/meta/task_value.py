"""The critic of RL² agents that may read the trial's task in training (``value_reads_task``)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class TaskAwareValue(nn.Module):
    """``V(h_t, o_t, task)``: one ReLU layer over the memory, the observation and the task's parameters, then a scalar.

    The three enter through separate linear maps, summed: the task's is constant over a trial, so the
    update's whole-trial replay computes it once per trial (step-by-step play, once per step).
    """

    def __init__(self, hidden_size: int, obs_size: int, task_feature_size: int, width: int) -> None:
        super().__init__()
        self.memory = nn.Linear(hidden_size, width)
        self.obs = nn.Linear(obs_size, width, bias=False)
        self.task = nn.Linear(task_feature_size, width, bias=False)
        self.out = nn.Linear(width, 1)

    def forward(self, h: torch.Tensor, obs: torch.Tensor, task: torch.Tensor) -> torch.Tensor:
        """h (T, N, H), obs (T, N, D), task (1, N, F) → (T, N, 1)."""
        return self.out(F.relu(self.memory(h) + self.obs(obs) + self.task(task)))
