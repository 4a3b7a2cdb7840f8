"""What every RL² policy shares: the shapes it is built from, the interface RL² plays it through, and the
critic that may read the trial's task in training."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from leyden_core.errors import LeydenConfigError


@dataclass(frozen=True)
class TrialSpec:
    """What a policy is built for: ``obs_shape`` and ``num_actions`` of the task family, ``task_size``
    numbers describing a task (what a task-reading critic reads; 0: none offered) and ``estimate_size``
    outputs of the task head the auxiliary losses train (0: no head)."""

    obs_shape: tuple[int, ...]
    num_actions: int
    task_size: int = 0
    estimate_size: int = 0


class TrialOutput(NamedTuple):
    """Logits (T, N, A); values (T, N), None where the critic reads the task and none was given; the task
    head's estimate (T, N, estimate_size) or None without a head; the memory after the last step."""

    logits: torch.Tensor
    values: torch.Tensor | None
    estimate: torch.Tensor | None
    hidden: torch.Tensor


def feedback(
    actions: torch.Tensor, rewards: torch.Tensor, dones: torch.Tensor, num_actions: int
) -> torch.Tensor:
    """What a step tells the memory beside the next observation: ``[one_hot(a), r, d]``, (...) → (..., A + 2)."""
    return torch.cat(
        [F.one_hot(actions, num_actions).float(), rewards[..., None], dones[..., None].float()], -1
    )


def previous_step(
    actions: torch.Tensor, rewards: torch.Tensor, dones: torch.Tensor, num_actions: int
) -> torch.Tensor:
    """The feedback of each step's predecessor, ``[one_hot(a_{t-1}), r_{t-1}, d_{t-1}]``, zeros at the trial's
    first step: what RL² feeds the memory beside each observation. (T, N) each → (T, N, A + 2)."""
    step = feedback(actions, rewards, dones, num_actions)
    return torch.cat([torch.zeros_like(step[:1]), step[:-1]])


class TrialPolicy(nn.Module):
    """A recurrent policy over one trial: :meth:`forward` steps the memory through ``obs`` (T, N, *obs_shape)
    and ``previous`` (T, N, A + 2, :func:`previous_step`) from ``hidden``. ``task`` (1, N, task_size) reaches
    the critic only (``value_reads_task``), in training."""

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory every trial starts from: (1, batch, width)."""
        raise NotImplementedError

    def forward(
        self,
        obs: torch.Tensor,
        previous: torch.Tensor,
        hidden: torch.Tensor,
        task: torch.Tensor | None = None,
    ) -> TrialOutput:
        raise NotImplementedError


def task_value(spec: TrialSpec, value_reads_task: bool, memory_size: int, input_size: int, width: int):
    """The critic that reads the task (:class:`TaskAwareValue`), or None; refuses a family that offers no task."""
    if not value_reads_task:
        return None
    if not spec.task_size:
        raise LeydenConfigError(
            "value_reads_task=True, but the task family offers no task parameters to read",
            "leave value_reads_task off, or give the family a task_parameters() method",
        )
    return TaskAwareValue(memory_size, input_size, spec.task_size, width)


class TaskAwareValue(nn.Module):
    """``V(h_t, x_t, task)``: one ReLU layer over the memory, the step's input and the task's parameters.

    A value that knows the task need not guess from the history how much the trial can still pay;
    as the value of (history, task) under the policy it is an unbiased critic (Baisero & Amato, 2022).
    The three enter through separate linear maps, summed: the task's is constant over a trial, so the
    update's whole-trial replay computes it once per trial.
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
