"""Classic Bernoulli-bandit strategies of the RL² paper's Table 1, vectorised over trials.

All keep per-arm success/failure counts and start from the task distribution's Beta(1, 1) prior
(one pseudo-success and one pseudo-failure per arm, as the paper initialises UCB1 and the greedy
methods). Ties are broken uniformly at random, so e.g. greedy tries untried arms in random order.
"""

from __future__ import annotations

import torch

from leyden_rl.meta.baselines.gittins import gittins_table
from leyden_rl.meta.tasks import BatchedTrialEnv, stream_generator


class BanditAgent:
    """Shared bookkeeping: counts, the prior, random tie-breaking and the per-trial reset."""

    def __init__(self, seed: int = 0) -> None:
        self.generator = stream_generator(seed, "agent")

    def reset(self, env: BatchedTrialEnv) -> None:
        n, k = env.num_envs, env.dist.num_actions
        self.successes = torch.zeros(n, k)
        self.failures = torch.zeros(n, k)
        self.num_pulls = env.dist.num_pulls

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        rows = torch.arange(action.shape[0])
        self.successes[rows, action] += reward
        self.failures[rows, action] += 1.0 - reward

    @property
    def posterior_mean(self) -> torch.Tensor:
        return (1.0 + self.successes) / (2.0 + self.successes + self.failures)

    def argmax(self, scores: torch.Tensor) -> torch.Tensor:
        """Best arm per row, ties broken uniformly at random."""
        best = scores >= scores.max(1, keepdim=True).values - 1e-6
        noise = torch.rand(scores.shape, generator=self.generator)
        return torch.where(best, noise, -1.0).argmax(1)

    def random_arms(self, n: int, k: int) -> torch.Tensor:
        return torch.randint(0, k, (n,), generator=self.generator)


class RandomBandit(BanditAgent):
    """Uniformly random arms: the floor, n/2 in expectation."""

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        return self.random_arms(*self.successes.shape)


class GittinsBandit(BanditAgent):
    """Pull the arm of largest Gittins index for the pulls left in the trial (:mod:`.gittins`)."""

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        table = gittins_table(self.num_pulls)
        remaining = self.num_pulls - env.t
        return self.argmax(table[remaining, self.successes.long(), self.failures.long()])


class ThompsonBandit(BanditAgent):
    """Thompson sampling: pull the arm whose Beta-posterior sample is largest.

    ``optimistic=True`` is optimistic Thompson sampling (May et al., 2012): an arm's sample is
    never allowed below its posterior mean, ``max(θ, E[θ])``.
    """

    def __init__(self, optimistic: bool = False, seed: int = 0) -> None:
        super().__init__(seed)
        self.optimistic = optimistic

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        a, b = 1.0 + self.successes, 1.0 + self.failures
        theta = _beta(a, b, self.generator)
        if self.optimistic:
            theta = torch.maximum(theta, self.posterior_mean)
        return self.argmax(theta)


class UCB1Bandit(BanditAgent):
    """UCB1 (Auer et al., 2002): ``μ̂_i + c·sqrt(2 ln t / T_i)``, statistics started at one success and one failure."""

    def __init__(self, c: float = 1.0, seed: int = 0) -> None:
        super().__init__(seed)
        self.c = c

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        pulls = 2.0 + self.successes + self.failures  # T_i with the prior's two pseudo-pulls
        t = pulls.sum(1, keepdim=True)
        return self.argmax(self.posterior_mean + self.c * torch.sqrt(2.0 * torch.log(t) / pulls))


class EpsilonGreedyBandit(BanditAgent):
    """With probability ε a uniformly random arm, otherwise the arm of best posterior mean (ε = 0: greedy)."""

    def __init__(self, epsilon: float = 0.1, seed: int = 0) -> None:
        super().__init__(seed)
        self.epsilon = epsilon

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        greedy = self.argmax(self.posterior_mean)
        if self.epsilon <= 0:
            return greedy
        n, k = self.successes.shape
        explore = torch.rand(n, generator=self.generator) < self.epsilon
        return torch.where(explore, self.random_arms(n, k), greedy)


def _beta(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Beta(a, b) draws for integer-valued a, b >= 1 from a seeded generator.

    Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b); a Gamma of integer shape is a sum
    of exponentials, i.e. ``−log`` of a product of uniforms (computed as a sum of logs).
    """
    top = int(max(a.max().item(), b.max().item()))
    u = torch.rand(2, *a.shape, top, generator=generator)
    logs = -torch.log1p(-u)  # Exp(1) draws
    k = torch.arange(top)
    x = (logs[0] * (k < a[..., None])).sum(-1)
    y = (logs[1] * (k < b[..., None])).sum(-1)
    return x / (x + y)


def make_bandit_baselines(hparams: dict[str, float] | None = None, seed: int = 0) -> dict[str, BanditAgent]:
    """The paper's seven bandit strategies; ``hparams`` may set ``ucb1_c`` and ``epsilon``."""
    h = {"ucb1_c": 0.2, "epsilon": 0.05, **(hparams or {})}
    return {
        "Random": RandomBandit(seed),
        "Gittins": GittinsBandit(seed),
        "TS": ThompsonBandit(False, seed),
        "OTS": ThompsonBandit(True, seed),
        "UCB1": UCB1Bandit(h["ucb1_c"], seed),
        "eps-Greedy": EpsilonGreedyBandit(h["epsilon"], seed),
        "Greedy": EpsilonGreedyBandit(0.0, seed),
    }


BANDIT_HPARAM_GRID = {
    "ucb1_c": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
    "epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
}
"""Values searched per setting (on tuning trials disjoint from the evaluation trials), as the paper tuned them."""
