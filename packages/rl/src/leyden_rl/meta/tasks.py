"""The task families of the RL² paper (Duan et al., 2016), as :class:`TaskDistribution` s, and their stepper.

* :class:`BernoulliBandits` — one state, ``k`` arms with means ~ U[0, 1]; every pull is an
  episode of one step, so ``num_episodes`` is the number of pulls ``n``.
* :class:`RandomTabularMDPs` — 10 states, 5 actions, 10 steps per episode from state 0; reward
  means ~ N(1, 1), each reward is its mean plus N(0, 1) noise; transition rows ~ Dirichlet(1).

Both are finite MDPs, so one stepper (:class:`BatchedTrialEnv`) serves both; the observation is
``one_hot(state)``. The classic baselines play the same stepper and read its ``state``, ``t`` and
``step_in_episode``; the task itself (``task``) is the oracle no learner reads.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.task_distribution import BatchedTasks, TaskDistribution, stream_generator


class TabularTasks(TaskDistribution):
    """What both paper families share: finite states and actions, observed as ``one_hot(state)``."""

    num_states: int
    horizon: int
    reward_mean_std: float
    has_expected_rewards = True

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (self.num_states,)

    @property
    def trial_length(self) -> int:
        """Env steps in one trial: every episode of the trial runs its full horizon."""
        return self.num_episodes * self.horizon

    @property
    def task_sizes(self) -> dict[str, int]:
        """E[r | s, a] of every pair and, with more than one state, P(s' | s, a) of every pair."""
        pairs = self.num_states * self.num_actions
        sizes = {"reward_means": pairs}
        if self.num_states > 1:
            sizes["transitions"] = pairs * self.num_states
        return sizes

    def batch(self, num_trials: int, seed: int, device: torch.device | str = "cpu") -> BatchedTrialEnv:
        return BatchedTrialEnv(self, num_trials, seed, device)

    def sample(self, num: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def reward_mean(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        """Expected reward of each (state, action): (num, S, A)."""
        raise NotImplementedError

    def transitions(self, task: dict[str, torch.Tensor]) -> torch.Tensor:
        """Next-state distribution of each (state, action): (num, S, A, S)."""
        raise NotImplementedError

    def sample_reward(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        raise NotImplementedError


@dataclass(frozen=True)
class BernoulliBandits(TabularTasks):
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

    def with_episodes(self, num_episodes: int) -> BernoulliBandits:
        return dataclasses.replace(self, num_pulls=num_episodes)

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
class RandomTabularMDPs(TabularTasks):
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

    def with_episodes(self, num_episodes: int) -> RandomTabularMDPs:
        return dataclasses.replace(self, num_episodes=num_episodes)

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


class BatchedTrialEnv(BatchedTasks):
    """``num_envs`` trials of a tabular family stepped together, all in lock step.

    :meth:`reset` draws ``num_envs`` fresh tasks (or takes ``task``, e.g. for tests); :meth:`step`
    returns ``(one_hot(state), reward, episode_done)``; at each episode end the state returns to 0.
    Tasks, rewards and transitions are drawn on the CPU from one seeded generator (so a seed gives
    the same tasks on every device); what the stepper returns is on ``device``.

    Attributes the classic baselines read: ``state`` (N,), ``t``, ``step_in_episode``, ``episode``,
    ``dist``; ``task`` is the oracle, never read by a learner (baselines get their priors from ``dist``).
    """

    def __init__(
        self, dist: TabularTasks, num_envs: int, seed: int = 0, device: torch.device | str = "cpu"
    ) -> None:
        self.dist, self.num_envs, self.device = dist, num_envs, torch.device(device)
        self.generator = stream_generator(seed, "env")
        self.trial_length = dist.trial_length

    def reset(self, task: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """Start new trials (``task`` given: on those exact tasks)."""
        self.task = task if task is not None else self.dist.sample(self.num_envs, self.generator)
        self._mean = self.dist.reward_mean(self.task)  # (N, S, A)
        self._cdf = self.dist.transitions(self.task).cumsum(-1)  # (N, S, A, S)
        self.state = torch.zeros(self.num_envs, dtype=torch.long)
        self.t = 0
        return self._obs()

    @property
    def step_in_episode(self) -> int:
        return self.t % self.dist.horizon

    @property
    def episode(self) -> int:
        return self.t // self.dist.horizon

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.t >= self.trial_length:
            raise RuntimeError("the trial is over: call reset() before stepping again")
        idx = torch.arange(self.num_envs)
        actions = actions.long().cpu()
        self.expected_reward = self._mean[idx, self.state, actions]
        reward = self.dist.sample_reward(self.expected_reward, self.generator)
        u = torch.rand(self.num_envs, 1, generator=self.generator)
        next_state = torch.searchsorted(self._cdf[idx, self.state, actions], u, right=True).squeeze(1)
        next_state = next_state.clamp_max(self.dist.num_states - 1)  # cdf rounding below 1
        self.t += 1
        episode_done = self.t % self.dist.horizon == 0
        self.state = torch.zeros_like(next_state) if episode_done else next_state
        done = torch.full((self.num_envs,), episode_done, device=self.device)
        self.expected_reward = self.expected_reward.to(self.device)
        return self._obs(), reward.to(self.device), done

    def task_parameters(self) -> dict[str, torch.Tensor]:
        """E[r | s, a] (N, S·A) and, on an MDP, P(s' | s, a) (N, S·A·S) of the current tasks."""
        parameters = {"reward_means": self._mean.flatten(1)}
        if self.dist.num_states > 1:
            parameters["transitions"] = self.dist.transitions(self.task).flatten(1)
        return {name: value.to(self.device) for name, value in parameters.items()}

    def _obs(self) -> torch.Tensor:
        return F.one_hot(self.state, self.dist.num_states).float().to(self.device)


def novelty(states: torch.Tensor, actions: torch.Tensor, num_states: int, num_actions: int) -> torch.Tensor:
    """``1 / sqrt(1 + n_t)``, n_t the tries of (s_t, a_t) earlier in the trial: states, actions (T, N) → (T, N).

    The exploration bonus of MBIE-EB (Strehl & Littman, 2008), computed from the trial's own history.
    """
    pair = F.one_hot(states * num_actions + actions, num_states * num_actions).float()  # (T, N, S·A)
    earlier = pair.cumsum(0) - pair
    return (earlier * pair).sum(-1).add(1).rsqrt()
