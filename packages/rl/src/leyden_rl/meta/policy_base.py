"""What every RL² policy shares: the interface the trainer and the agent play through, and the critic that may
read the trial's task in training (``value_reads_task``)."""

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


class TrialPolicy(nn.Module):
    """A recurrent policy over one trial's observations (:class:`GRUPolicy`, :class:`ArmMemoryPolicy`).

    :meth:`outputs` steps the memory through ``obs`` (T, N, D) from ``hidden`` and returns the logits
    (T, N, A), the values (T, N) — None when the value reads the task and none is given — the task head's
    estimate at ``task_steps`` (None without a head or with ``task_steps=None``) and the next hidden state.
    """

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory every trial starts from: (1, batch, width)."""
        raise NotImplementedError

    def outputs(
        self,
        obs: torch.Tensor,
        hidden: torch.Tensor,
        task_steps: slice | None = slice(None),
        task: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        raise NotImplementedError

    def forward(
        self, obs: torch.Tensor, hidden: torch.Tensor, task: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """obs (T, N, D), hidden as :meth:`initial_state` → logits (T, N, A), values (T, N) or None, next hidden.

        A value that reads the task needs ``task`` (1, N, F); without it the values are None (an
        evaluated agent acts on the logits alone)."""
        logits, values, _, hidden = self.outputs(obs, hidden, task_steps=None, task=task)
        return logits, values, hidden
