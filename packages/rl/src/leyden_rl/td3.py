"""TD3 (Fujimoto et al., 2018) and DDPG (Lillicrap et al., 2016): deterministic actor-critics.

Each ``training_step``:

1. act for ``train_freq`` vector steps with μ(s) plus Gaussian exploration noise (uniform random
   actions before ``learning_starts``) into the replay buffer — collection shared with SAC
   (:mod:`leyden_rl.off_policy`);
2. take ``gradient_steps`` updates. The critics regress to ``r + γ min_i Q'_i(s', ã')`` with the
   *smoothed* target action ``ã' = clip(μ'(s') + clip(ε, −c, c))``, ε ~ N(0, σ̃²) (target policy
   smoothing; with two critics the min is clipped double-Q). Every ``policy_delay``-th update the
   actor then ascends ``Q_1(s, μ(s))`` through the critic *just updated*, and the target actor and
   critics are Polyak-averaged with ``tau`` (delayed policy updates).

DDPG is the special case of one critic, no target smoothing and no delay (as in Stable-Baselines3).
Noise scales are fractions of the action half-range, so they mean the same in every env.

The order is the papers' (and their reference code's): critic step, then actor step on the same
batch. Stepping the actor against the critic from before that update's critic step saves a backward
pass but learns later: on InvertedPendulum-v5 (seed 1) DDPG's deterministic policy first balanced the
pole at 21,000 env steps in that order, at 20,250 in this one. Under DDP each backward must give every
parameter a gradient for the all-reduce, so the network a step does not train gets a zero one (a
product with 0, no forward pass), dropped again before the optimizer step.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import gymnasium as gym
import torch
from torch.func import functional_call

from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_core.distributed import is_distributed
from leyden_core.ema import polyak_update
from leyden_core.errors import LeydenConfigError
from leyden_rl.networks import DeterministicActor, TwinQ
from leyden_rl.off_policy import OffPolicyModule


class TD3(OffPolicyModule):
    """TD3 for Box action spaces with vector observations (Stable-Baselines3's defaults).

    Args:
        buffer_size, learning_starts, batch_size, gamma, tau: replay and target settings.
        learning_rate: Adam step size of actor and critics.
        train_freq, gradient_steps: vector steps collected and updates taken per iteration.
        policy_delay: critic updates per actor (and target) update.
        exploration_noise: std of the Gaussian noise added to μ(s) while collecting.
        target_policy_noise, target_noise_clip: σ̃ and c of target policy smoothing.
        num_critics: 2 for clipped double-Q, 1 for DDPG's single critic.
        hidden_sizes, activation: MLP shape of actor and critics.
    """

    def __init__(
        self,
        env_id: str = "Pendulum-v1",
        num_envs: int = 1,
        total_env_steps: int = 20_000,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        gamma: float = 0.99,
        tau: float = 0.005,
        train_freq: int = 1,
        gradient_steps: int = 1,
        policy_delay: int = 2,
        exploration_noise: float = 0.1,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        num_critics: int = 2,
        hidden_sizes: tuple[int, ...] = (400, 300),
        activation: str = "relu",
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        init_args = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        check_positive("learning_rate", learning_rate, 1e-3)
        check_fraction("gamma", gamma, 0.99)
        check_positive("tau", tau, 0.005)
        check_fraction("tau", tau, 0.005)
        for name, value, example in (
            ("exploration_noise", exploration_noise, 0.1), ("target_policy_noise", target_policy_noise, 0.2),
            ("target_noise_clip", target_noise_clip, 0.5),
        ):  # fmt: skip
            check_non_negative(name, value, example)
        check_count("learning_starts", learning_starts, minimum=0)
        for name, value in (
            ("train_freq", train_freq), ("gradient_steps", gradient_steps), ("policy_delay", policy_delay),
            ("batch_size", batch_size),
        ):  # fmt: skip
            check_count(name, value)
        check_count("buffer_size", buffer_size, minimum=batch_size)
        if num_critics not in (1, 2):
            raise LeydenConfigError(
                f"num_critics must be 1 (DDPG) or 2 (TD3's clipped double-Q), got {num_critics!r}",
                "set num_critics: 2",
            )
        super().__init__(env_id, num_envs, total_env_steps, seed, vectorization, env_kwargs)
        self.save_hyperparameters()
        # TD3's settings as given to TD3 (DDPG passes its fixed ones), whatever the subclass's hparams hold.
        self.config = SimpleNamespace(**init_args)
        if not isinstance(self.action_space, gym.spaces.Box):
            raise LeydenConfigError(
                f"{type(self).__name__} needs a Box (continuous) action space; {env_id!r} has {self.action_space}",
                "use DQN or PPO for discrete actions",
            )
        hidden = tuple(hidden_sizes)
        self.actor = DeterministicActor(self.observation_space, self.action_space, hidden, activation)
        # nn.Linear's initialisation, as the TD3 authors' code and SB3: with PPO's orthogonal one (gain √2) the
        # critic's early slope in the action drove μ into tanh saturation on InvertedPendulum-v5 in 2 of 4 seeds
        self.critic = TwinQ(
            self.observation_space, self.action_space, hidden, activation, num_critics, "linear"
        )
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.buffer = self.build_buffer(
            min(buffer_size, max(total_env_steps // self.action_repeat, num_envs))
        )
        self.updates = 0

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # One optimizer; each backward trains the actor or the critics (see the module docstring).
        params = [*self.actor.parameters(), *self.critic.parameters()]
        return torch.optim.Adam(params, lr=self.config.learning_rate, fused=True)

    def noisy(self, actions: torch.Tensor, std: float, clip: float | None = None) -> torch.Tensor:
        """``actions`` plus Gaussian noise (std and clip in units of the half-range), kept in bounds."""
        scale = self.actor.scale
        noise = torch.randn_like(actions) * std
        if clip is not None:
            noise = noise.clamp(-clip, clip)
        low, high = self.actor.bias - scale, self.actor.bias + scale
        return torch.maximum(torch.minimum(actions + noise * scale, high), low)

    def unit(self, actions: torch.Tensor) -> torch.Tensor:
        """Env actions rescaled to [-1, 1], what the critics see (as in SB3): in the env's units an
        action range of ±3 (InvertedPendulum-v5) steepens the critics' initial slope in the action
        threefold, and the actor went into tanh saturation in some seeds."""
        return (actions - self.actor.bias) / self.actor.scale

    # ---------------------------------------------------------------------------- 1. collect
    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        return self.noisy(self.actor(obs), self.config.exploration_noise)

    # ---------------------------------------------------------------------------- 2. update
    def update(self) -> dict[str, float]:
        hp = self.config
        # detached views of the critic's parameters: they follow its in-place optimizer steps
        frozen_critic = {k: v.detach() for k, v in self.critic.named_parameters()}
        metrics: dict[str, float] = {}
        for _ in range(hp.gradient_steps):
            b = self.buffer.sample(hp.batch_size, hp.gamma)
            obs, actions, rewards, next_obs, discount = (
                t.to(self.device) for t in (b.obs, b.actions, b.rewards, b.next_obs, b.discount)
            )
            with torch.no_grad():
                next_actions = self.actor_target(next_obs)
                if hp.target_policy_noise > 0:
                    next_actions = self.noisy(next_actions, hp.target_policy_noise, hp.target_noise_clip)
                next_q = torch.stack(self.critic_target(next_obs, self.unit(next_actions))).min(0).values
                target = rewards + discount * next_q
            critic_loss = sum(0.5 * (q - target).pow(2).mean() for q in self.critic(obs, self.unit(actions)))
            self.optimize(critic_loss, idle=self.actor)
            self.updates += 1
            if self.updates % hp.policy_delay == 0:  # ascend Q_1(s, μ(s)) through the updated, frozen critic
                q_input = (obs, self.unit(self.actor(obs)), 1)
                actor_loss = -functional_call(self.critic, frozen_critic, q_input)[0].mean()
                self.optimize(actor_loss, idle=self.critic)
                polyak_update(self.critic_target, self.critic, hp.tau)
                polyak_update(self.actor_target, self.actor, hp.tau)
                metrics["train/actor_loss"] = float(actor_loss.detach())
        metrics["train/critic_loss"] = float(critic_loss.detach())
        return metrics

    def optimize(self, loss: torch.Tensor, idle: torch.nn.Module) -> None:
        """One optimizer step on ``loss``, leaving ``idle`` as it is. Under DDP ``idle`` gets a zero gradient for the
        all-reduce (see the module docstring; in one process it would cost 8% of an update), dropped
        again so that Adam leaves it untouched."""
        opt = self.optimizers()
        opt.zero_grad(set_to_none=True)
        if is_distributed():
            loss = loss + 0.0 * sum(p.sum() for p in idle.parameters())
        self.manual_backward(loss)
        for p in idle.parameters():
            p.grad = None
        opt.step()

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """μ(s), or with exploration noise when not ``deterministic`` (the evaluation callback's interface)."""
        return self.actor(obs) if deterministic else self.explore(obs)


class DDPG(TD3):
    """DDPG: TD3 with one critic, no target policy smoothing and an actor update every step."""

    def __init__(
        self,
        env_id: str = "Pendulum-v1",
        num_envs: int = 1,
        total_env_steps: int = 20_000,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        learning_rate: float = 1e-3,
        gamma: float = 0.99,
        tau: float = 0.005,
        train_freq: int = 1,
        gradient_steps: int = 1,
        exploration_noise: float = 0.1,
        hidden_sizes: tuple[int, ...] = (400, 300),
        activation: str = "relu",
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        super().__init__(
            env_id=env_id, num_envs=num_envs, total_env_steps=total_env_steps, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, learning_rate=learning_rate, gamma=gamma,
            tau=tau, train_freq=train_freq, gradient_steps=gradient_steps, policy_delay=1,
            exploration_noise=exploration_noise, target_policy_noise=0.0, num_critics=1,
            hidden_sizes=hidden_sizes, activation=activation, seed=seed, vectorization=vectorization,
            env_kwargs=env_kwargs,
        )  # fmt: skip
        # Keep DDPG's own arguments only, so a checkpoint re-creates a DDPG.
        self.remove_ignored_hparams(
            ["policy_delay", "target_policy_noise", "target_noise_clip", "num_critics"]
        )
