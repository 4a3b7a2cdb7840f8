"""Classic Bernoulli-bandit strategies of the RL² paper's Table 1, vectorised over trials.

All keep per-arm success/failure counts and start from the task distribution's Beta(1, 1) prior
(one pseudo-success and one pseudo-failure per arm, as the paper initialises UCB1 and the greedy
methods).

Ties are broken uniformly at random by default. The paper's baselines (its authors' evaluation
code, ``sandbox/rocky/neural_learner/scripts/bandits`` in rllab's sandbox) take numpy's ``argmax``,
the lowest index, and :func:`make_bandit_baselines` does the same: that is not a neutral choice,
because arms are first tried in index order, so at equal posterior mean an arm already pulled
(one success, one failure: 2/4) wins over an untried one (1/2). Greedy at n = 100, k = 50 scores
78.5 that way (the paper: 78.0) and 80.6 with random ties.
"""

from __future__ import annotations

from typing import Literal

import torch

from leyden_rl.meta.baselines.gittins import gittins_table
from leyden_rl.meta.task_distribution import stream_generator
from leyden_rl.meta.tasks import BatchedTrialEnv

TieBreak = Literal["random", "lowest_index"]


class BanditAgent:
    """Shared bookkeeping: counts, the prior, tie-breaking and the per-trial reset."""

    def __init__(self, seed: int = 0, tie_break: TieBreak = "random") -> None:
        if tie_break not in ("random", "lowest_index"):
            raise ValueError(f"tie_break must be 'random' or 'lowest_index', got {tie_break!r}")
        self.generator = stream_generator(seed, "agent")
        self.tie_break = tie_break

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
        """Best arm per row, ties broken uniformly at random or to the lowest index (``tie_break``)."""
        if self.tie_break == "lowest_index":
            return scores.argmax(1)  # torch returns the first maximal index
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

    With ``num_samples > 1`` it draws that many joint samples of all arms' means and acts on the
    most probable one (largest posterior density): the paper's "optimistic Thompson sampling"
    (OTS), as its authors' evaluation code defines it, with the number of samples tuned over
    1–20. The most probable of many samples lies near the posterior mode, so more samples mean
    less exploration than TS — close to greedy for short trials. (May et al.'s OTS, ``max(θ,
    E[θ])``, scores 2.5–8.7 % below the paper's column; this definition reproduces it.)
    """

    def __init__(self, num_samples: int = 1, seed: int = 0, tie_break: TieBreak = "random") -> None:
        super().__init__(seed, tie_break)
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.num_samples = num_samples

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        return self.argmax(self.sample_means())

    def sample_means(self) -> torch.Tensor:
        """The arms' means the agent acts on (trials, arms): the most probable of ``num_samples`` joint draws."""
        a, b = 1.0 + self.successes, 1.0 + self.failures
        shape = (self.num_samples, *a.shape)
        draws = _beta(a.expand(shape), b.expand(shape), self.generator)  # (samples, trials, arms)
        most_probable = _log_density_up_to_constant(draws, a, b).argmax(0)
        return draws[most_probable, torch.arange(a.shape[0])]


class UCB1Bandit(BanditAgent):
    """UCB1 (Auer et al., 2002): ``μ̂_i + c·sqrt(2 ln t / T_i)``, statistics started at one success and one failure."""

    def __init__(self, c: float = 1.0, seed: int = 0, tie_break: TieBreak = "random") -> None:
        super().__init__(seed, tie_break)
        self.c = c

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        pulls = 2.0 + self.successes + self.failures  # T_i with the prior's two pseudo-pulls
        t = pulls.sum(1, keepdim=True)
        return self.argmax(self.posterior_mean + self.c * torch.sqrt(2.0 * torch.log(t) / pulls))


class EpsilonGreedyBandit(BanditAgent):
    """With probability ε a uniformly random arm, otherwise the arm of best posterior mean (ε = 0: greedy)."""

    def __init__(self, epsilon: float = 0.1, seed: int = 0, tie_break: TieBreak = "random") -> None:
        super().__init__(seed, tie_break)
        self.epsilon = epsilon

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        greedy = self.argmax(self.posterior_mean)
        if self.epsilon <= 0:
            return greedy
        n, k = self.successes.shape
        explore = torch.rand(n, generator=self.generator) < self.epsilon
        return torch.where(explore, self.random_arms(n, k), greedy)


def _beta(a: torch.Tensor, b: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Beta(a, b) draws driven by ``generator``.

    torch's Beta sampler reads only the global RNG, so it runs under a forked RNG seeded from
    ``generator``: the draws are reproducible and the global RNG is left as it was.
    """
    seed = int(torch.randint(0, 2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return torch.distributions.Beta(a, b).sample()


def _log_density_up_to_constant(theta: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Joint Beta log-density of each draw of all arms' means (summed over the last dim), without the
    normaliser, which is the same for every draw of a trial."""
    theta = theta.clamp(1e-12, 1.0 - 1e-7)
    return ((a - 1.0) * theta.log() + (b - 1.0) * torch.log1p(-theta)).sum(-1)


def make_bandit_baselines(
    hparams: dict[str, float] | None = None, seed: int = 0, tie_break: TieBreak = "lowest_index"
) -> dict[str, BanditAgent]:
    """The paper's seven bandit strategies, breaking ties as its code does (module docstring);
    ``hparams`` may set ``ucb1_c``, ``epsilon`` and ``ots_samples``."""
    h = {"ucb1_c": 0.2, "epsilon": 0.05, "ots_samples": 10, **(hparams or {})}
    return {
        "Random": RandomBandit(seed),
        "Gittins": GittinsBandit(seed, tie_break),
        "TS": ThompsonBandit(1, seed, tie_break),
        "OTS": ThompsonBandit(int(h["ots_samples"]), seed, tie_break),
        "UCB1": UCB1Bandit(h["ucb1_c"], seed, tie_break),
        "eps-Greedy": EpsilonGreedyBandit(h["epsilon"], seed, tie_break),
        "Greedy": EpsilonGreedyBandit(0.0, seed, tie_break),
    }


BANDIT_HPARAM_GRID = {
    "ucb1_c": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0],
    "epsilon": [0.0, 0.01, 0.02, 0.05, 0.1, 0.2],
    "ots_samples": list(range(1, 21)),
}
"""Values searched per setting (on tuning trials disjoint from the evaluation trials), as the paper tuned them."""
