"""RL²'s recurrent policy for bandits with one memory per arm (``RL2(arm_memories=True)``).

A bandit's arms are exchangeable: what the agent should do with an arm depends on what that arm has
paid so far and on how many pulls are left, not on its index. The generic policy (:class:`GRUPolicy`)
must learn the same behaviour 50 times over at k = 50, once per slot of its input and output, from
PPO's sparse signal. Here every arm has its own GRU memory, all arms sharing one set of weights, and a
small clock memory counts the trial's pulls. The memory is still learnt end to end from the paper's
observations by PPO alone — no count or estimate is computed by hand — but what it learns about one
arm holds for every arm. It is the weight sharing of Deep Sets (Zaheer et al., 2017) applied to the
RL² memory: the policy is equivariant to a relabelling of the arms.
"""

from __future__ import annotations

import torch
from torch import nn

from leyden_rl.meta.policy_base import TaskAwareValue, TrialPolicy
from leyden_rl.meta.tasks import split_obs


class ArmMemoryPolicy(TrialPolicy):
    """One GRU memory per arm (shared weights), a clock GRU, and a shared readout per arm.

    At each step the pulled arm's memory reads what the pull paid (``[r, 1 − r]``); the others keep
    theirs, as nothing was learnt about them. The clock reads whether a pull happened, so it can
    count how much of the trial is left — the other half of what a finite-horizon index (Gittins')
    depends on. Each arm's logit is one small ReLU network of (its memory, the clock), so the
    softmax compares arms by a learnt index. The value reads the memories pooled over arms (mean
    and max) and the clock, and with ``task_feature_size`` also the trial's task
    (:class:`TaskAwareValue`, training only). The task head (``task_size`` = the number of arms)
    estimates each arm's reward mean from its own memory, for RL2's task-inference loss.

    The hidden state is (1, N, arms·memory + memory): the arms' memories, then the clock.
    """

    def __init__(
        self, num_arms: int, memory_size: int, obs_size: int, task_size: int = 0, task_feature_size: int = 0
    ) -> None:
        super().__init__()
        if task_size not in (0, num_arms):
            raise ValueError(
                f"task_size={task_size}: the arm memories estimate one reward mean per arm ({num_arms})"
            )
        self.num_arms, self.memory_size = num_arms, memory_size
        self.arm_cell = nn.GRUCell(2, memory_size)
        self.clock_cell = nn.GRUCell(1, memory_size)
        self.policy_head = nn.Sequential(
            nn.Linear(2 * memory_size, 2 * memory_size), nn.ReLU(), nn.Linear(2 * memory_size, 1)
        )
        nn.init.zeros_(self.policy_head[-1].weight)  # a uniform first policy
        nn.init.zeros_(self.policy_head[-1].bias)
        self.task_head = nn.Linear(memory_size, 1) if task_size else None
        pooled_size = 3 * memory_size
        if task_feature_size:
            self.task_value: TaskAwareValue | None = TaskAwareValue(
                pooled_size, obs_size, task_feature_size, 4 * memory_size
            )
            self.value_head: nn.Linear | None = None
        else:
            self.task_value, self.value_head = None, nn.Linear(pooled_size, 1)

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory every trial starts from: (1, batch, arms·memory + memory)."""
        return torch.zeros(1, batch, (self.num_arms + 1) * self.memory_size, device=device)

    def outputs(
        self,
        obs: torch.Tensor,
        hidden: torch.Tensor,
        task_steps: slice | None = slice(None),
        task: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, torch.Tensor]:
        """See :class:`TrialPolicy`; the estimate is each arm's reward mean (T', N, arms)."""
        arms, clocks = self._memories(obs, hidden)
        readout_input = torch.cat([arms, clocks[:, :, None].expand_as(arms)], -1)
        logits = self.policy_head(readout_input).squeeze(-1)
        pooled = torch.cat([arms.mean(2), arms.amax(2), clocks], -1)
        if self.task_value is None:
            values: torch.Tensor | None = self.value_head(pooled).squeeze(-1)
        else:
            values = None if task is None else self.task_value(pooled, obs, task).squeeze(-1)
        estimate = None
        if task_steps is not None and self.task_head is not None:
            estimate = self.task_head(arms[task_steps]).squeeze(-1)
        next_hidden = torch.cat([arms[-1].flatten(1), clocks[-1]], -1)[None]
        return logits, values, estimate, next_hidden

    def _memories(self, obs: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step the memories through obs: every arm's memory (T, N, arms, memory) and the clock (T, N, memory)
        after each step's observation. Step by step, as only the pulled arm's memory moves."""
        n, size = obs.shape[1], self.memory_size
        _, previous_action, reward, _ = split_obs(obs, self.num_arms)
        arms = hidden[0, :, : self.num_arms * size].unflatten(-1, (self.num_arms, size))
        clock = hidden[0, :, self.num_arms * size :]
        rows = torch.arange(n, device=obs.device)
        all_arms, all_clocks = [], []
        for t in range(obs.shape[0]):
            pulled = previous_action[t].sum(-1, keepdim=True)  # 0 at a trial's first step: nothing pulled yet
            arm = previous_action[t].argmax(-1)
            current = arms[rows, arm]
            moved = self.arm_cell(torch.cat([reward[t], 1 - reward[t]], -1), current)
            arms = arms.index_put((rows, arm), torch.where(pulled > 0, moved, current))
            clock = self.clock_cell(pulled, clock)
            all_arms.append(arms)
            all_clocks.append(clock)
        return torch.stack(all_arms), torch.stack(all_clocks)
