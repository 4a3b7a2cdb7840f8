"""Task distributions of RL² (Duan et al., 2016) and a batched torch env that steps many trials at once.

A *trial* is one task drawn from a distribution, played for ``num_episodes`` episodes of
``horizon`` steps; the agent's memory persists across the episodes of a trial and is wiped
between trials. Two families, both cast as finite MDPs so one stepper serves both:

* :class:`BernoulliBandits` — one state, ``k`` arms with means ~ U[0, 1]; every pull is an
  episode of one step, so ``num_episodes`` is the number of pulls ``n``.
* :class:`RandomTabularMDPs` — 10 states, 5 actions, 10 steps per episode from state 0; reward
  means ~ N(1, 1), each reward is its mean plus N(0, 1) noise; transition rows ~ Dirichlet(1).

The observation the agent sees at each step is ``[one_hot(state), one_hot(prev_action),
prev_reward, prev_done]`` (:func:`encode_obs`): the previous action/reward/done are how a
recurrent policy can learn from its own experience inside the trial.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import torch

from leyden_core.errors import LeydenConfigError


@dataclass(frozen=True)
class BernoulliBandits:
    """k-armed Bernoulli bandits with arm means ~ U[0, 1]; ``num_pulls`` pulls per trial."""

    num_arms: int = 5
    num_pulls: int = 10

    def __post_init__(self) -> None:
        if self.num_arms < 2 or self.num_pulls < 1:
            raise LeydenConfigError(
                f"bandits need num_arms >= 2 and num_pulls >= 1, got k={self.num_arms}, n={self.num_pulls}",
                "pass e.g. num_arms=5, num_pulls=10",
            )

    num_states = 1
    horizon = 1
    reward_mean_std = 12**-0.5  # of an arm's mean, U[0, 1]

    @property
    def num_actions(self) -> int:
        return self.num_arms

    @property
    def num_episodes(self) -> int:
        return self.num_pulls

    def sample(self, num: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``num`` tasks: ``{"means": (num, k)}``."""
        return {"means": torch.rand(num, self.num_arms, generator=generator)}

    def reward_mean(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        """Expected reward of each (state, action): (num, 1, k)."""
        return task["means"][:, None, :]

    def transitions(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        """Next-state distribution of each (state, action): (num, 1, k, 1) — always state 0."""
        return torch.ones(task["means"].shape[0], 1, self.num_arms, 1)

    def sample_reward(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.bernoulli(mean, generator=generator)


@dataclass(frozen=True)
class RandomTabularMDPs:
    """Random finite MDPs with Normal-Normal rewards and flat-Dirichlet transitions."""

    num_states: int = 10
    num_actions: int = 5
    horizon: int = 10
    num_episodes: int = 10
    reward_prior_mean: float = 1.0
    reward_prior_std: float = 1.0
    reward_noise_std: float = 1.0
    dirichlet_alpha: float = 1.0

    @property
    def reward_mean_std(self) -> float:
        """The prior spread of a (state, action)'s reward mean."""
        return self.reward_prior_std

    def __post_init__(self) -> None:
        if min(self.num_states, self.num_actions, self.horizon, self.num_episodes) < 1:
            raise LeydenConfigError(
                "tabular MDPs need num_states, num_actions, horizon, num_episodes >= 1",
                "pass e.g. num_states=10, num_actions=5, horizon=10, num_episodes=10",
            )

    def sample(self, num: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``num`` tasks: ``{"reward_mean": (num, S, A), "transitions": (num, S, A, S)}``."""
        s, a = self.num_states, self.num_actions
        means = self.reward_prior_mean + self.reward_prior_std * torch.randn(num, s, a, generator=generator)
        # Dirichlet(α) rows as normalised Gamma(α) draws, so the seeded generator controls them too.
        gammas = _gamma_draws(self.dirichlet_alpha, (num, s, a, s), generator)
        return {"reward_mean": means, "transitions": gammas / gammas.sum(-1, keepdim=True)}

    def reward_mean(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        return task["reward_mean"]

    def transitions(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        return task["transitions"]

    def sample_reward(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return mean + self.reward_noise_std * torch.randn(mean.shape, generator=generator)


def _gamma_draws(alpha: float, shape: tuple[int, ...], generator: torch.Generator | None) -> torch.Tensor:
    """Gamma(α, 1) draws from a seeded generator (Marsaglia–Tsang; exact exponentials for α = 1)."""
    if alpha == 1.0:
        return -torch.log1p(-torch.rand(shape, generator=generator))
    boost = alpha < 1.0  # Gamma(α) = Gamma(α + 1) · U^(1/α)
    a = alpha + 1.0 if boost else alpha
    d = a - 1.0 / 3.0
    c = 1.0 / (9.0 * d) ** 0.5
    out = torch.empty(shape).view(-1)
    todo = torch.arange(out.numel())
    while todo.numel():
        x = torch.randn(todo.numel(), generator=generator)
        v = (1.0 + c * x) ** 3
        u = torch.rand(todo.numel(), generator=generator)
        ok = (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * torch.log(v.clamp_min(1e-30)))
        out[todo[ok]] = d * v[ok]
        todo = todo[~ok]
    out = out.view(shape)
    if boost:
        out = out * torch.rand(shape, generator=generator) ** (1.0 / alpha)
    return out


TaskDistribution = BernoulliBandits | RandomTabularMDPs


def stream_generator(seed: int, stream: str) -> torch.Generator:
    """A torch generator for one named random stream of ``seed``.

    The env and each agent draw from *different* streams of the same seed: were both seeded with
    the same integer, an agent's tie-breaking noise would replay the env's task draws and leak
    the arm means to it.
    """
    state = np.random.SeedSequence([seed, zlib.crc32(stream.encode())]).generate_state(2, np.uint64)
    return torch.Generator().manual_seed(int(state[0] >> np.uint64(1)))


def trial_length(dist: TaskDistribution) -> int:
    """Env steps in one trial: every episode of the trial runs its full horizon."""
    return dist.num_episodes * dist.horizon


def obs_dim(dist: TaskDistribution) -> int:
    """Width of the RL² observation: one-hot state + one-hot previous action + reward + done."""
    return dist.num_states + dist.num_actions + 2


def encode_obs(
    state: torch.Tensor,
    prev_action: torch.Tensor,
    prev_reward: torch.Tensor,
    prev_done: torch.Tensor,
    num_states: int,
    num_actions: int,
) -> torch.Tensor:
    """``[one_hot(state), one_hot(prev_action), prev_reward, prev_done]``; ``prev_action = -1`` → zeros.

    All inputs have shape (N,); returns (N, S + A + 2) float32.
    """
    n = state.shape[0]
    obs = torch.zeros(n, num_states + num_actions + 2)
    obs[torch.arange(n), state.long()] = 1.0
    has_prev = prev_action >= 0
    obs[torch.arange(n)[has_prev], num_states + prev_action[has_prev].long()] = 1.0
    obs[:, -2] = prev_reward.float()
    obs[:, -1] = prev_done.float()
    return obs


def split_obs(obs: torch.Tensor, num_actions: int) -> tuple[torch.Tensor, ...]:
    """The fields of :func:`encode_obs`'s layout, any leading shape: ``(one_hot(state), one_hot(prev_action),
    prev_reward, prev_done)``, the last two keeping a trailing axis of 1."""
    num_states = obs.shape[-1] - num_actions - 2
    if num_states < 1:
        raise LeydenConfigError(
            f"an RL² observation of width {obs.shape[-1]} cannot hold a state, {num_actions} actions, reward and done",
            "build the observation with encode_obs (width num_states + num_actions + 2)",
        )
    return obs.split([num_states, num_actions, 1, 1], dim=-1)


class BatchedTrialEnv:
    """``num_envs`` trials of a task distribution stepped together, all in lock-step.

    Every trial has the same length ``num_episodes × horizon``, so all trials start and end at the
    same step: :meth:`reset` draws ``num_envs`` fresh tasks; :meth:`step` returns
    ``(obs, reward, trial_done)`` where ``trial_done`` is True after the last step of the trial
    (call :meth:`reset` then). At each episode end the state returns to 0 and the next
    observation carries ``prev_done = 1``.

    Attributes the classic baselines read: ``state`` (N,), ``step_in_episode``, ``episode``,
    ``task`` (only the *oracle* — never read by a learner; baselines get their priors from ``dist``).
    ``expected_reward`` (N,) is the mean of the reward just sampled, E[r | s, a] of the last step:
    an RL² trainer may use it as a lower-variance training target (never as an observation).
    """

    def __init__(self, dist: TaskDistribution, num_envs: int, seed: int = 0) -> None:
        self.dist = dist
        self.num_envs = num_envs
        self.generator = stream_generator(seed, "env")
        self.trial_length = trial_length(dist)
        self.obs_dim = obs_dim(dist)

    def reset(self, task: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Start new trials (``task`` given: on those exact tasks, e.g. for tests)."""
        self.task = task if task is not None else self.dist.sample(self.num_envs, self.generator)
        self._mean = self.dist.reward_mean(self.task)  # (N, S, A)
        self._cdf = self.dist.transitions(self.task).cumsum(-1)  # (N, S, A, S)
        n = self.num_envs
        self.state = torch.zeros(n, dtype=torch.long)
        self.t = 0
        return self._obs(torch.full((n,), -1), torch.zeros(n), torch.zeros(n))

    @property
    def step_in_episode(self) -> int:
        return self.t % self.dist.horizon

    @property
    def episode(self) -> int:
        return self.t // self.dist.horizon

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
        if self.t >= self.trial_length:
            raise RuntimeError("the trial is over: call reset() before stepping again")
        idx = torch.arange(self.num_envs)
        actions = actions.long()
        self.expected_reward = self._mean[idx, self.state, actions]
        reward = self.dist.sample_reward(self.expected_reward, self.generator)
        u = torch.rand(self.num_envs, 1, generator=self.generator)
        next_state = torch.searchsorted(self._cdf[idx, self.state, actions], u, right=True).squeeze(1)
        next_state = next_state.clamp_max(self.dist.num_states - 1)  # cdf rounding below 1
        self.t += 1
        episode_done = self.t % self.dist.horizon == 0
        self.state = torch.zeros_like(next_state) if episode_done else next_state
        done = torch.full((self.num_envs,), float(episode_done))
        return self._obs(actions, reward, done), reward, self.t == self.trial_length

    def _obs(
        self, prev_action: torch.Tensor, prev_reward: torch.Tensor, prev_done: torch.Tensor
    ) -> torch.Tensor:
        return encode_obs(
            self.state, prev_action, prev_reward, prev_done, self.dist.num_states, self.dist.num_actions
        )
