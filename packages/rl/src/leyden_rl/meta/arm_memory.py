"""RL²'s recurrent policy for bandits with one memory per arm.

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

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.policy_base import TrialOutput, TrialPolicy, TrialSpec, task_value


class ArmMemoryPolicy(TrialPolicy):
    """One GRU memory per arm (shared weights), a clock GRU, and a shared readout per arm.

    At each step the pulled arm's memory reads what the pull paid (``[r, 1 − r]``); the others keep
    theirs, as nothing was learnt about them. The clock reads whether a pull happened, so it can
    count how much of the trial is left — the other half of what a finite-horizon index (Gittins')
    depends on. Each arm's logit is one small ReLU network of (its memory, the clock), so the
    softmax compares arms by a learnt index. The value reads the memories pooled over arms (mean
    and max) and the clock, and with ``value_reads_task`` also the trial's task
    (:class:`~leyden_rl.meta.policy_base.TaskAwareValue`, training only). The task head (with RL2's
    ``TaskInference`` of the reward means) estimates each arm's mean from its own memory.

    Args:
        spec: the bandit family's shapes (RL2 passes it). memory_size: width of each arm's memory and the clock.
        value_reads_task: the value also reads the trial's arm means in training.

    The hidden state is (1, N, arms·memory + memory): the arms' memories, then the clock.
    """

    def __init__(self, spec: TrialSpec, memory_size: int = 16, value_reads_task: bool = False) -> None:
        super().__init__()
        num_arms = spec.num_actions
        if spec.obs_shape != (1,) or spec.estimate_size not in (0, num_arms):
            raise LeydenConfigError(
                f"ArmMemoryPolicy is for bandits (one state) and estimates one mean per arm; got observations "
                f"{spec.obs_shape} and a task estimate of {spec.estimate_size}",
                "use it with BernoulliBandits and TaskInference of the reward means, or use GRUPolicy",
            )
        self.num_arms, self.memory_size = num_arms, memory_size
        self.arm_cell = nn.GRUCell(2, memory_size)
        self.clock_cell = nn.GRUCell(1, memory_size)
        self.policy_head = nn.Sequential(
            nn.Linear(2 * memory_size, 2 * memory_size), nn.ReLU(), nn.Linear(2 * memory_size, 1)
        )
        nn.init.zeros_(self.policy_head[-1].weight)  # a uniform first policy
        nn.init.zeros_(self.policy_head[-1].bias)
        self.task_head = nn.Linear(memory_size, 1) if spec.estimate_size else None
        pooled_size, step_size = 3 * memory_size, 1 + num_arms + 2
        self.task_value = task_value(spec, value_reads_task, pooled_size, step_size, 4 * memory_size)
        self.value_head = nn.Linear(pooled_size, 1) if self.task_value is None else None

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory every trial starts from: (1, batch, arms·memory + memory)."""
        return torch.zeros(1, batch, (self.num_arms + 1) * self.memory_size, device=device)

    def forward(
        self,
        obs: torch.Tensor,
        previous: torch.Tensor,
        hidden: torch.Tensor,
        task: torch.Tensor | None = None,
    ) -> TrialOutput:
        """See :class:`TrialPolicy`; the estimate is each arm's reward mean (T, N, arms)."""
        arms, clocks = self._memories(previous, hidden)
        readout_input = torch.cat([arms, clocks[:, :, None].expand_as(arms)], -1)
        logits = self.policy_head(readout_input).squeeze(-1)
        pooled = torch.cat([arms.mean(2), arms.amax(2), clocks], -1)
        values = None
        if self.task_value is None:
            values = self.value_head(pooled).squeeze(-1)
        elif task is not None:
            values = self.task_value(pooled, torch.cat([obs, previous], -1), task).squeeze(-1)
        estimate = self.task_head(arms).squeeze(-1) if self.task_head is not None else None
        next_hidden = torch.cat([arms[-1].flatten(1), clocks[-1]], -1)[None]
        return TrialOutput(logits, values, estimate, next_hidden)

    def _memories(self, previous: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Step the memories through the previous pulls: every arm's memory (T, N, arms, memory) and the clock (T, N, memory)
        after each step's observation. Step by step, as only the pulled arm's memory moves."""
        n, size = previous.shape[1], self.memory_size
        previous_action, reward = (
            previous[..., : self.num_arms],
            previous[..., self.num_arms : self.num_arms + 1],
        )
        arms = hidden[0, :, : self.num_arms * size].unflatten(-1, (self.num_arms, size))
        clock = hidden[0, :, self.num_arms * size :]
        rows = torch.arange(n, device=previous.device)
        all_arms, all_clocks = [], []
        for t in range(previous.shape[0]):
            pulled = previous_action[t].sum(-1, keepdim=True)  # 0 at a trial's first step: nothing pulled yet
            arm = previous_action[t].argmax(-1)
            current = arms[rows, arm]
            moved = self.arm_cell(torch.cat([reward[t], 1 - reward[t]], -1), current)
            arms = arms.index_put((rows, arm), torch.where(pulled > 0, moved, current))
            clock = self.clock_cell(pulled, clock)
            all_arms.append(arms)
            all_clocks.append(clock)
        return torch.stack(all_arms), torch.stack(all_clocks)
