"""Play whole trials of a tabular task family with any agent, vectorised over trials.

Every agent — a classic baseline or a trained RL² policy (:class:`PolicyAgent`) — implements
:class:`TrialAgent`, so the benchmark scores them all on the same sampled tasks with the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
import torch.nn.functional as F

from leyden_rl.meta.policy_base import TrialPolicy, feedback
from leyden_rl.meta.task_distribution import stream_generator
from leyden_rl.meta.tasks import BatchedTrialEnv, TabularTasks


class TrialAgent(Protocol):
    def reset(self, env: BatchedTrialEnv) -> None:
        """Forget everything: a new trial (a new, unknown task) starts in every env."""

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        """Actions (N,) for the current step; may read ``env.state`` / ``env.step_in_episode``."""

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        """Learn from the transition just taken; ``env.state`` is already the next state."""


@torch.no_grad()
def run_trials(
    agent: TrialAgent,
    dist: TabularTasks,
    num_trials: int,
    seed: int,
    on_step: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, BatchedTrialEnv], None] | None = None,
) -> torch.Tensor:
    """Total reward of each of ``num_trials`` trials, shape (num_trials,).

    The tasks and the env's randomness depend only on ``seed``, so two agents run with the same
    seed face the same tasks (common random numbers make their comparison sharper). ``on_step``
    sees what the agent's ``update`` sees — each step's states, actions and rewards — and the env
    after it (``env.expected_reward``, ``env.task``): how a diagnostic records more than the totals
    without a trial loop of its own.
    """
    env = BatchedTrialEnv(dist, num_trials, seed=seed)
    obs = env.reset()
    agent.reset(env)
    total = torch.zeros(num_trials)
    for _ in range(env.trial_length):
        action = agent.act(obs, env)
        state = env.state.clone()
        obs, reward, _ = env.step(action)
        agent.update(state, action, reward, env)
        if on_step is not None:
            on_step(state, action, reward, env)
        total += reward
    return total


class PolicyAgent:
    """A trained RL² policy as a :class:`TrialAgent`: its memory starts at zero each trial, and it samples
    its actions as it was trained to. The previous action, reward and episode end reach it as in training."""

    def __init__(self, policy: TrialPolicy, seed: int = 0) -> None:
        self.policy = policy.eval()
        self.generator = stream_generator(seed, "agent")

    def reset(self, env: BatchedTrialEnv) -> None:
        self.hidden = self.policy.initial_state(env.num_envs)
        self.previous = torch.zeros(1, env.num_envs, env.dist.num_actions + 2)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """Step the memory through this observation: the logits (N, A)."""
        out = self.policy(obs[None], self.previous, self.hidden)
        self.hidden = out.hidden
        return out.logits[0]

    @torch.no_grad()
    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        probs = F.softmax(self.logits(obs), -1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        """Remember what the step fed back; the next observation brings the rest."""
        done = torch.full_like(reward, float(env.step_in_episode == 0))
        self.previous = feedback(action, reward, done, env.dist.num_actions)[None]
