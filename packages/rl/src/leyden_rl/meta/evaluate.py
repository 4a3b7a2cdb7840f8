"""Play whole trials of a task distribution with any agent, vectorised over trials.

Every agent — a classic baseline or a trained RL² policy — implements :class:`TrialAgent`, so the
benchmark scores them all on the same sampled tasks with the same code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch

from leyden_rl.meta.tasks import BatchedTrialEnv, TaskDistribution


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
    dist: TaskDistribution,
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
    done = False
    while not done:
        action = agent.act(obs, env)
        state = env.state.clone()
        obs, reward, done = env.step(action)
        agent.update(state, action, reward, env)
        if on_step is not None:
            on_step(state, action, reward, env)
        total += reward
    return total
