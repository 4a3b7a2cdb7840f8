"""Classic tabular-MDP exploration strategies of the RL² paper's Table 2, vectorised over trials.

Every strategy keeps the same sufficient statistics of its experience in the trial — visit
counts ``n(s, a)``, reward sums and next-state counts — and plans by finite-horizon dynamic
programming over the remaining steps of the episode (:func:`plan`). The Bayesian ones hold
Normal(μ0, σ0²) beliefs on the reward means with known N(0, σ²) noise (Normal-Normal conjugate)
and Dirichlet(α) beliefs on the transition rows, by default the task distribution's own priors.

The paper's baselines are Osband's TabulaRL agents, which its authors' evaluation code
(``sandbox/rocky/neural_learner/scripts/pacmdp`` in rllab's sandbox) runs with TabulaRL's default
prior: reward means believed N(0, 1), not the tasks' N(1, 1). :func:`make_mdp_baselines` gives
PSRL, OPSRL and BEB that belief (``reward_prior_mean=0``) and TabulaRL's OPSRL and BEB rules,
which is what reproduces the paper's figures for them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.task_distribution import stream_generator
from leyden_rl.meta.tasks import BatchedTrialEnv, RandomTabularMDPs


def plan(
    backup: Callable[[torch.Tensor], torch.Tensor], value_shape: tuple[int, int], horizon: int
) -> torch.Tensor:
    """Finite-horizon Q-values ``Q[h]`` (N, S, A) for ``h`` = steps already taken in the episode.

    ``backup(V_next) -> Q`` applies one Bellman backup; ``Q[horizon − 1]`` is the last step's.
    """
    value = torch.zeros(value_shape)
    qs = []
    for _ in range(horizon):
        q = backup(value)
        value = q.max(-1).values
        qs.append(q)
    return torch.stack(qs[::-1])


class MDPAgent:
    """Counts, Bayesian posterior, random tie-breaking; subclasses choose how to plan.

    ``reward_prior_mean`` is the agent's prior belief on every reward mean; ``None`` takes the
    task distribution's (the one the tasks are really drawn from).
    """

    replan_every_step = True  # False: plan once per episode (the posterior-sampling methods)

    def __init__(self, seed: int = 0, reward_prior_mean: float | None = None) -> None:
        self.generator = stream_generator(seed, "agent")
        self.reward_prior_mean = reward_prior_mean

    def reset(self, env: BatchedTrialEnv) -> None:
        dist = env.dist
        if not isinstance(dist, RandomTabularMDPs):
            raise TypeError("MDP baselines need a RandomTabularMDPs task distribution")
        self.dist = dist
        n, s, a = env.num_envs, dist.num_states, dist.num_actions
        self.visits = torch.zeros(n, s, a)
        self.reward_sum = torch.zeros(n, s, a)
        self.next_counts = torch.zeros(n, s, a, s)
        self.q: torch.Tensor | None = None

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        rows = torch.arange(action.shape[0])
        self.visits[rows, state, action] += 1
        self.reward_sum[rows, state, action] += reward
        if env.step_in_episode != 0:  # the episode ended: env.state is the reset state, not a successor
            self.next_counts[rows, state, action, env.state] += 1

    # --------------------------------------------------------------------------- posterior
    def reward_posterior(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and std of each reward mean's Normal posterior."""
        mean, precision = self._reward_belief()
        return mean, precision.rsqrt()

    def _reward_belief(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and precision of each reward mean."""
        d = self.dist
        prior_mean = d.reward_prior_mean if self.reward_prior_mean is None else self.reward_prior_mean
        precision = 1.0 / d.reward_prior_std**2 + self.visits / d.reward_noise_std**2
        mean = (prior_mean / d.reward_prior_std**2 + self.reward_sum / d.reward_noise_std**2) / precision
        return mean, precision

    def transition_posterior_mean(self) -> torch.Tensor:
        alpha = self.dist.dirichlet_alpha + self.next_counts
        return alpha / alpha.sum(-1, keepdim=True)

    def model_estimate(self, kind: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Point estimate of the MDP: ``"posterior"`` mean, or ``"empirical"`` (maximum likelihood).

        The empirical model has reward 0 and uniform transitions where ``(s, a)`` was never tried.
        """
        if kind == "posterior":
            return self.reward_posterior()[0], self.transition_posterior_mean()
        if kind == "empirical":
            reward = self.reward_sum / self.visits.clamp_min(1.0)
            seen = self.next_counts.sum(-1, keepdim=True)
            uniform = torch.full_like(self.next_counts, 1.0 / self.dist.num_states)
            return reward, torch.where(seen > 0, self.next_counts / seen.clamp_min(1.0), uniform)
        raise LeydenConfigError(f"unknown MDP model estimate {kind!r}", "use 'posterior' or 'empirical'")

    def sample_mdp(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One MDP from the posterior: reward means (N, S, A) and transitions (N, S, A, S)."""
        mean, std = self.reward_posterior()
        rewards = mean + std * torch.randn(mean.shape, generator=self.generator)
        gammas = _gamma(self.dist.dirichlet_alpha + self.next_counts, self.generator)
        return rewards, gammas / gammas.sum(-1, keepdim=True)

    # --------------------------------------------------------------------------- acting
    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        raise NotImplementedError

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        if self.replan_every_step or env.step_in_episode == 0:
            self.q = self.q_values(env)
        q = self.q[env.step_in_episode, torch.arange(env.num_envs), env.state]  # (N, A)
        best = q >= q.max(1, keepdim=True).values - 1e-6
        return torch.where(best, torch.rand(q.shape, generator=self.generator), -1.0).argmax(1)

    def value_shape(self, env: BatchedTrialEnv) -> tuple[int, int]:
        return env.num_envs, self.dist.num_states

    def solve(self, rewards: torch.Tensor, transitions: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        return plan(
            lambda v: rewards + torch.einsum("nsat,nt->nsa", transitions, v),
            self.value_shape(env),
            self.dist.horizon,
        )


class RandomMDP(MDPAgent):
    """Uniformly random actions."""

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        return torch.randint(0, self.dist.num_actions, (env.num_envs,), generator=self.generator)


class PSRL(MDPAgent):
    """Posterior sampling (Strens, 2000; Osband et al., 2013): each episode, act optimally in one sampled MDP.

    ``num_samples = K > 1`` is optimistic PSRL as TabulaRL (and so the paper) defines it: K
    posterior MDPs, each solved, and the agent acts on the elementwise maximum of their Q-values.
    """

    replan_every_step = False

    def __init__(self, num_samples: int = 1, seed: int = 0, reward_prior_mean: float | None = None) -> None:
        super().__init__(seed, reward_prior_mean)
        if num_samples < 1:
            raise ValueError(f"num_samples must be at least 1, got {num_samples}")
        self.num_samples = num_samples

    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        q = self.solve(*self.sample_mdp(), env)
        for _ in range(self.num_samples - 1):
            q = torch.maximum(q, self.solve(*self.sample_mdp(), env))
        return q


class UCRL2(MDPAgent):
    """UCRL2 (Jaksch et al., 2010) with finite-horizon extended value iteration, replanned each episode.

    Optimism over confidence sets around the empirical model: reward means within
    ``scale·sqrt(log(2SAt/δ)/n)`` and transition rows within an L1 ball of radius
    ``scale·sqrt(2S·log(2At/δ)/n)``; the inner maximisation moves mass to the best next state.
    ``scale`` shrinks the theory's conservative radii (tuned, as in the paper).
    """

    replan_every_step = False

    def __init__(self, scale: float = 0.1, delta: float = 0.1, seed: int = 0) -> None:
        super().__init__(seed)
        self.scale, self.delta = scale, delta

    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        s, a = self.dist.num_states, self.dist.num_actions
        t = max(env.t, 1)
        reward_hat, p_hat = self.model_estimate("empirical")
        n = self.visits.clamp_min(1.0)
        reward_ucb = reward_hat + self.scale * torch.sqrt(math.log(2 * s * a * t / self.delta) / n)
        seen = self.next_counts.sum(-1, keepdim=True)
        radius = self.scale * torch.sqrt(2 * s * math.log(2 * a * t / self.delta) / seen.clamp_min(1.0))
        return plan(
            lambda v: reward_ucb + (_optimistic_rows(p_hat, radius, v) * v[:, None, None, :]).sum(-1),
            self.value_shape(env),
            self.dist.horizon,
        )


class BEB(MDPAgent):
    """Bayesian Exploration Bonus (Kolter & Ng, 2009) in TabulaRL's form, planned once per episode.

    The posterior-mean MDP plus, at a step with ``m`` steps left after it, a bonus
    ``1 / (1 + τ) + β·m / (1 + Σα)`` for each (s, a): ``τ`` is the reward mean's posterior
    precision and ``Σα`` the transition row's Dirichlet total, so both fall as ``1 / n(s, a)``.
    The transition part is scaled by the steps left, over which a poorly known successor
    distribution can still matter.
    """

    replan_every_step = False

    def __init__(self, beta: float = 3.0, seed: int = 0, reward_prior_mean: float | None = None) -> None:
        super().__init__(seed, reward_prior_mean)
        self.beta = beta

    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        reward_mean, precision = self._reward_belief()
        alpha_total = (self.dist.dirichlet_alpha + self.next_counts).sum(-1)
        reward = reward_mean + 1.0 / (1.0 + precision)
        transition_bonus = self.beta / (1.0 + alpha_total)
        transitions = self.transition_posterior_mean()
        steps_left = iter(range(self.dist.horizon))  # plan() backs up from the episode's last step

        def backup(v: torch.Tensor) -> torch.Tensor:
            bonus = transition_bonus * next(steps_left)
            return reward + bonus + torch.einsum("nsat,nt->nsa", transitions, v)

        return plan(backup, self.value_shape(env), self.dist.horizon)


class EpsilonGreedyMDP(MDPAgent):
    """Act optimally in the estimated MDP, replanned every step; a random action with probability ε.

    ``model="empirical"`` plans in the maximum-likelihood MDP (untried actions look worth 0) — the
    paper's greedy figures (134.8 / 368.8) match this one; ``"posterior"`` plans in the posterior-mean
    MDP, whose prior mean of 1 for untried actions makes greedy explore far more (and score higher).
    """

    def __init__(self, epsilon: float = 0.1, model: str = "empirical", seed: int = 0) -> None:
        super().__init__(seed)
        self.epsilon, self.model = epsilon, model

    def q_values(self, env: BatchedTrialEnv) -> torch.Tensor:
        return self.solve(*self.model_estimate(self.model), env)

    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        greedy = super().act(obs, env)
        if self.epsilon <= 0:
            return greedy
        explore = torch.rand(env.num_envs, generator=self.generator) < self.epsilon
        random = torch.randint(0, self.dist.num_actions, (env.num_envs,), generator=self.generator)
        return torch.where(explore, random, greedy)


def _optimistic_rows(p_hat: torch.Tensor, radius: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """argmax of ``p·V`` over ``‖p − p̂‖₁ ≤ radius``: add ``radius/2`` to the best next state, take it from the worst.

    p_hat: (N, S, A, S), radius: (N, S, A, 1), value: (N, S).
    """
    order = value.argsort(-1)[:, None, None, :].expand(p_hat.shape)  # ascending value
    p_sorted = p_hat.gather(-1, order)
    add = torch.minimum(radius.squeeze(-1) / 2, 1.0 - p_sorted[..., -1])
    before = p_sorted[..., :-1].cumsum(-1) - p_sorted[..., :-1]  # mass of worse states before each
    take = torch.minimum(p_sorted[..., :-1], (add[..., None] - before).clamp_min(0.0))
    p_sorted = torch.cat([p_sorted[..., :-1] - take, (p_sorted[..., -1] + add)[..., None]], -1)
    return torch.empty_like(p_hat).scatter_(-1, order, p_sorted)


def _gamma(shape_param: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gamma(α) draws with a seeded generator (Marsaglia–Tsang, α >= 1 here as α = prior 1 + counts)."""
    d = shape_param - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.zeros_like(shape_param)
    todo = torch.ones_like(shape_param, dtype=torch.bool)
    while todo.any():
        x = torch.randn(shape_param.shape, generator=generator)
        v = (1.0 + c * x) ** 3
        u = torch.rand(shape_param.shape, generator=generator)
        ok = todo & (v > 0) & (torch.log(u) < 0.5 * x**2 + d - d * v + d * torch.log(v.clamp_min(1e-30)))
        out = torch.where(ok, d * v, out)
        todo = todo & ~ok
    return out


def make_mdp_baselines(hparams: dict[str, float] | None = None, seed: int = 0) -> dict[str, MDPAgent]:
    """The paper's seven MDP strategies, the Bayesian ones with TabulaRL's prior (module docstring);
    ``hparams`` may set ``opsrl_k``, ``ucrl2_scale``, ``beb_beta``, ``epsilon``."""
    h = {"opsrl_k": 8, "ucrl2_scale": 0.1, "beb_beta": 3.0, "epsilon": 0.05, **(hparams or {})}
    return {
        "Random": RandomMDP(seed),
        "PSRL": PSRL(1, seed, reward_prior_mean=0.0),
        "OPSRL": PSRL(int(h["opsrl_k"]), seed, reward_prior_mean=0.0),
        "UCRL2": UCRL2(h["ucrl2_scale"], seed=seed),
        "BEB": BEB(h["beb_beta"], seed, reward_prior_mean=0.0),
        "eps-Greedy": EpsilonGreedyMDP(h["epsilon"], seed=seed),
        "Greedy": EpsilonGreedyMDP(0.0, seed=seed),
    }


MDP_HPARAM_GRID = {
    "opsrl_k": list(range(1, 21)),  # the paper's grid
    "ucrl2_scale": [0.02, 0.05, 0.1, 0.2, 0.5],
    "beb_beta": [0.2 * 10 ** (j / 5) for j in range(21)],  # the paper's: TabulaRL's 2H³·scaling, H = 10
    "epsilon": [0.0, 0.01, 0.02, 0.05, 0.1],
}
