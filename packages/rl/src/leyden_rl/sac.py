"""Soft Actor-Critic (Haarnoja et al., 2018) with twin Q, target critics and automatic entropy tuning.

Each ``training_step``:

1. act for ``train_freq`` vector steps with the stochastic policy (uniform random actions before
   ``learning_starts``) and store the transitions in the replay buffer (shared with TD3 and DDPG:
   :mod:`leyden_rl.off_policy`, which also holds the hook :meth:`~OffPolicyModule.build_buffer`);
2. take ``gradient_steps`` updates, each one backward pass over three losses:
   the twin critics regress to the soft target ``r + γ(min Q'(s', a') − α log π(a'|s'))``,
   the actor minimises ``α log π(a|s) − min Q(s, a)`` through the *frozen* critics, and
   ``log α`` drives the policy entropy toward ``−dim(A)``;
3. every ``target_update_interval`` updates, Polyak-average the target critics with ``tau`` (and a
   trainable encoder's target copy with ``encoder_tau``).

Observations pass through ``self.encoder`` before the actor and the critics. For vector
observations it is a parameter-free flatten; :class:`leyden_rl.curl.CURL` (pixel SAC) plugs in a
conv encoder through the hooks :meth:`SAC.build_encoder`, :meth:`SAC.view` and
:meth:`SAC.auxiliary_loss`. The critic's loss trains the encoder; the actor sees its features
detached (Yarats et al., 2019), so a bad policy gradient cannot wreck the representation.

One backward per gradient step matters under DDP: every trainable parameter gets its gradient in
the same pass, so the all-reduce that ``manual_backward`` triggers averages all of them at once.
"""

from __future__ import annotations

import copy
from types import SimpleNamespace

import gymnasium as gym
import numpy as np
import torch
from torch.func import functional_call

from leyden_core.checks import check_count, check_fraction, check_positive
from leyden_core.ema import polyak_update
from leyden_core.errors import LeydenConfigError
from leyden_rl.buffers import ReplayBatch
from leyden_rl.losses import sac_actor_loss, sac_alpha_loss, sac_critic_loss, sac_q_target
from leyden_rl.networks import FlattenMLP, SquashedGaussianActor, TwinQ, action_dim
from leyden_rl.off_policy import OffPolicyModule


class SAC(OffPolicyModule):
    """SAC for Box action spaces with vector observations.

    Args:
        buffer_size, learning_starts, batch_size, gamma, tau: replay and target settings.
        learning_rate: Adam step size for actor, critics (and encoder); ``alpha_learning_rate`` for
            α (default: ``learning_rate``).
        train_freq, gradient_steps: vector steps collected and updates taken per iteration.
        target_update_interval: updates between two Polyak averages of the targets.
        init_alpha, auto_alpha, target_entropy: entropy temperature (target default −dim(A)).
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
        init_alpha: float = 1.0,
        auto_alpha: bool = True,
        target_entropy: float | None = None,
        hidden_sizes: tuple[int, ...] = (256, 256),
        activation: str = "relu",
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
        alpha_learning_rate: float | None = None,
        target_update_interval: int = 1,
    ) -> None:
        init_args = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        check_positive("learning_rate", learning_rate, 1e-3)
        if alpha_learning_rate is not None:
            check_positive("alpha_learning_rate", alpha_learning_rate, 1e-3)
        check_positive("init_alpha", init_alpha, 1.0)
        check_fraction("gamma", gamma, 0.99)
        check_positive("tau", tau, 0.005)
        check_fraction("tau", tau, 0.005)
        check_count("learning_starts", learning_starts, minimum=0)
        for name, value in (("train_freq", train_freq), ("gradient_steps", gradient_steps)):
            check_count(name, value)
        check_count("target_update_interval", target_update_interval)
        check_count("batch_size", batch_size)
        check_count("buffer_size", buffer_size, minimum=batch_size)
        super().__init__(env_id, num_envs, total_env_steps, seed, vectorization, env_kwargs)
        self.save_hyperparameters()
        # SAC's settings as given to SAC: hparams hold only the outermost class's arguments when
        # LightningCLI builds a subclass (CURL), and resuming re-creates the model from those.
        self.config = SimpleNamespace(**init_args)
        if not isinstance(self.action_space, gym.spaces.Box):
            raise LeydenConfigError(
                f"SAC needs a Box (continuous) action space; {env_id!r} has {self.action_space}",
                "use DQN or PPO for discrete actions",
            )
        hidden = tuple(hidden_sizes)
        self.encoder = self.build_encoder()
        self.encoder_target = copy.deepcopy(self.encoder).requires_grad_(False)
        features = gym.spaces.Box(-np.inf, np.inf, (self.encoder.num_features,), np.float32)
        self.actor = SquashedGaussianActor(features, self.action_space, hidden, activation)
        self.critic = TwinQ(features, self.action_space, hidden, activation)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.log_alpha = torch.nn.Parameter(torch.tensor(float(np.log(init_alpha))), requires_grad=auto_alpha)
        n_act = action_dim(self.action_space)
        self.target_entropy = float(-n_act if target_entropy is None else target_entropy)
        self.buffer = self.build_buffer(
            min(buffer_size, max(total_env_steps // self.action_repeat, num_envs))
        )
        self.updates = 0

    # ---------------------------------------------------------------------------- hooks
    def build_encoder(self) -> torch.nn.Module:
        """Observation → features for actor and critics (``num_features`` wide); here a plain flatten."""
        return FlattenMLP(int(np.prod(self.observation_space.shape)), (), self.config.activation)

    def view(self, obs: torch.Tensor, train: bool) -> torch.Tensor:
        """What the encoder sees of a batch of observations (an augmentation when ``train``)."""
        return obs

    def auxiliary_loss(self, batch: ReplayBatch, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """Extra losses on the encoder, given the batch and the critic's (attached) features of its obs."""
        return {}

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # One optimizer (α in its own group for its own step size): the single backward pass below
        # fills every gradient, which is what lets DDP all-reduce them together.
        hp = self.config
        params = [p for n, p in self.named_parameters() if p.requires_grad and n != "log_alpha"]
        groups = [{"params": params}]
        if hp.auto_alpha:
            groups.append({"params": [self.log_alpha], "lr": hp.alpha_learning_rate or hp.learning_rate})
        return torch.optim.Adam(groups, lr=hp.learning_rate, fused=True)

    def policy(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """``(action, log_prob)`` for raw observations, as the agent acts."""
        return self.actor(self.encoder(self.view(obs, train=False)), deterministic=deterministic)

    def explore(self, obs: torch.Tensor) -> torch.Tensor:
        """A sample of the stochastic policy (collection, step 1: :mod:`leyden_rl.off_policy`)."""
        return self.policy(obs)[0]

    # ---------------------------------------------------------------------------- 2 + 3. update
    def update(self) -> dict[str, float]:
        hp = self.config
        opt = self.optimizers()
        frozen_critic = {k: v.detach() for k, v in self.critic.named_parameters()}
        for _ in range(hp.gradient_steps):
            b = self.buffer.sample(hp.batch_size, hp.gamma)
            b = ReplayBatch(
                *(t.to(self.device) for t in (b.obs, b.actions, b.rewards, b.next_obs, b.discount))
            )
            alpha = self.log_alpha.detach().exp()
            with torch.no_grad():
                next_obs = self.view(b.next_obs, train=True)
                next_actions, next_log_prob = self.actor(self.encoder(next_obs))
                nq1, nq2 = self.critic_target(self.encoder_target(next_obs), next_actions)
                target = sac_q_target(b.rewards, nq1, nq2, next_log_prob, alpha, b.discount)
            features = self.encoder(self.view(b.obs, train=True))
            q1, q2 = self.critic(features, b.actions)
            critic_loss = sac_critic_loss(q1, q2, target)
            new_actions, log_prob = self.actor(features.detach())  # the actor does not train the encoder
            pq1, pq2 = functional_call(self.critic, frozen_critic, (features.detach(), new_actions))
            actor_loss = sac_actor_loss(log_prob, pq1, pq2, alpha)
            aux = self.auxiliary_loss(b, features)
            loss = critic_loss + actor_loss + sum(aux.values())
            if hp.auto_alpha:
                loss = loss + sac_alpha_loss(self.log_alpha, log_prob, self.target_entropy)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
            self.updates += 1
            if self.updates % hp.target_update_interval == 0:
                self.update_targets()
        return {
            "train/critic_loss": float(critic_loss.detach()),
            "train/actor_loss": float(actor_loss.detach()),
            "train/alpha": float(alpha),
            "train/entropy": float(-log_prob.detach().mean()),
            **{f"train/{k}": float(v.detach()) for k, v in aux.items()},
        }

    def update_targets(self) -> None:
        polyak_update(self.critic_target, self.critic, self.config.tau)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """The policy's mean action squashed into bounds (the evaluation callback's interface)."""
        return self.policy(obs, deterministic=deterministic)[0]
