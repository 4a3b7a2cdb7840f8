"""Deep Q-Network (Mnih et al., 2015) with Double-DQN targets, optional dueling head and n-step returns.

Each ``training_step``:

1. act ε-greedily for ``train_freq`` vector steps (ε decays linearly from 1 to
   ``exploration_final_eps`` over ``exploration_fraction`` of the budget; uniformly random before
   ``learning_starts``) and store the transitions in the preallocated replay buffer;
2. refresh the target network once per ``target_update_interval`` env steps — a hard copy with
   ``tau = 1``, Polyak averaging with ``tau < 1`` (k refreshes due since the last iteration are
   applied as one average with weight ``1 − (1 − tau)^k``, which is what k separate ones give);
3. take ``gradient_steps`` minibatch steps on the Huber TD error toward the (n-step) Double-DQN
   target ``R + γ^k · Q_target(s', argmax_a Q(s', a))``.
"""

from __future__ import annotations

import copy
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from leyden_core.checks import check_count, check_fraction, check_positive
from leyden_core.ema import polyak_update
from leyden_core.errors import LeydenConfigError
from leyden_rl.base import OnlineRLModule, linear_schedule
from leyden_rl.buffers import ReplayBuffer, torch_dtype
from leyden_rl.losses import double_dqn_next_q, dqn_loss, td_target
from leyden_rl.networks import QNetwork


class DQN(OnlineRLModule):
    """DQN for Discrete action spaces; MLP for vector observations, NatureCNN for image stacks.

    Args:
        buffer_size: replay capacity in transitions (this rank). learning_starts: env steps of
            random play before learning. batch_size, learning_rate, gamma: the usual.
        anneal_lr: decay the learning rate linearly to 0 over the budget (late updates stay small,
            so a policy that has learned stops oscillating).
        train_freq: vector steps collected per iteration; gradient_steps: updates per iteration.
        target_update_interval (env steps) and tau: target-network refresh (tau=1: hard copy).
        double_q, dueling, n_step, huber: the Rainbow-style switches named in the paper titles.
        exploration_fraction, exploration_final_eps: the ε schedule.
    """

    def __init__(
        self,
        env_id: str = "CartPole-v1",
        num_envs: int = 1,
        total_env_steps: int = 50_000,
        buffer_size: int = 100_000,
        learning_starts: int = 1_000,
        batch_size: int = 64,
        learning_rate: float = 2.3e-3,
        anneal_lr: bool = False,
        gamma: float = 0.99,
        train_freq: int = 256,
        gradient_steps: int = 128,
        target_update_interval: int = 10,
        tau: float = 1.0,
        double_q: bool = True,
        dueling: bool = False,
        n_step: int = 1,
        huber: bool = True,
        exploration_fraction: float = 0.16,
        exploration_final_eps: float = 0.04,
        max_grad_norm: float = 10.0,
        hidden_sizes: tuple[int, ...] = (256, 256),
        activation: str = "relu",
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        check_positive("learning_rate", learning_rate, 1e-3)
        check_positive("max_grad_norm", max_grad_norm, 10.0)
        check_fraction("gamma", gamma, 0.99)
        check_fraction("exploration_fraction", exploration_fraction, 0.1)
        check_fraction("exploration_final_eps", exploration_final_eps, 0.05)
        check_positive("tau", tau, 1.0)
        check_fraction("tau", tau, 1.0)
        check_count("learning_starts", learning_starts, minimum=0)
        for name, value in (
            ("train_freq", train_freq),
            ("gradient_steps", gradient_steps),
            ("n_step", n_step),
        ):
            check_count(name, value)
        check_count("target_update_interval", target_update_interval)
        check_count("batch_size", batch_size)
        check_count("buffer_size", buffer_size, minimum=batch_size)
        super().__init__(env_id, num_envs, total_env_steps, seed, vectorization, env_kwargs)
        self.save_hyperparameters()
        if not isinstance(self.action_space, gym.spaces.Discrete):
            raise LeydenConfigError(
                f"DQN needs a Discrete action space; {env_id!r} has {self.action_space}",
                "use SAC or PPO for continuous actions",
            )
        self.q = QNetwork(
            self.observation_space, int(self.action_space.n), tuple(hidden_sizes), activation, dueling
        )
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.buffer = ReplayBuffer(
            buffer_size, num_envs, self.observation_space.shape, torch_dtype(self.observation_space.dtype),
            (), torch.long,
        )  # fmt: skip
        self.last_target_update = 0

    @property
    def steps_per_iteration(self) -> int:
        return self.hparams.num_envs * self.hparams.train_freq

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.q.parameters(), lr=self.hparams.learning_rate, fused=True)

    def epsilon(self) -> float:
        hp = self.hparams
        progress = self.env_steps / max(1.0, hp.exploration_fraction * hp.total_env_steps)
        return 1.0 + min(1.0, progress) * (hp.exploration_final_eps - 1.0)

    # ---------------------------------------------------------------------------- 1. collect
    @torch.no_grad()
    def collect(self) -> float:
        obs = self.obs
        eps = 1.0
        for _ in range(self.hparams.train_freq):
            eps = 1.0 if self.env_steps < self.hparams.learning_starts else self.epsilon()
            greedy = self.q(obs).argmax(-1).cpu().numpy()
            explore = np.random.random(self.num_envs) < eps
            actions = np.where(explore, np.random.randint(0, self.action_space.n, self.num_envs), greedy)
            next_obs, reward, terminated, truncated, info = self.step_envs(actions)
            self.buffer.add(
                obs.cpu(), torch.from_numpy(actions), torch.from_numpy(reward).float(),
                self.final_observations(next_obs, info).cpu(),
                torch.from_numpy(terminated), torch.from_numpy(truncated),
            )  # fmt: skip
            obs = next_obs
        self.obs = obs
        return eps

    # ---------------------------------------------------------------------------- 2 + 3. update
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        hp = self.hparams
        eps = self.collect()
        metrics: dict[str, Any] = {"train/epsilon": eps}
        if self.env_steps >= hp.learning_starts:
            self.refresh_target()
            metrics["train/td_loss"] = self.update()
        self.end_iteration(metrics)

    def refresh_target(self) -> None:
        """Apply the target refreshes due since the last one (one per ``target_update_interval`` env steps).

        ``k`` Polyak steps with the same online weights equal one step with ``1 − (1 − tau)^k`` — the
        target SB3 reaches by refreshing during collection; with ``tau = 1`` it is a hard copy.
        """
        hp = self.hparams
        refreshes = (self.env_steps - self.last_target_update) // hp.target_update_interval
        if refreshes:
            polyak_update(self.q_target, self.q, 1.0 - (1.0 - hp.tau) ** refreshes)
            self.last_target_update += refreshes * hp.target_update_interval

    def update(self) -> float:
        hp = self.hparams
        opt = self.optimizers()
        lr = linear_schedule(hp.learning_rate, self.env_steps / hp.total_env_steps, hp.anneal_lr)
        for group in opt.param_groups:
            group["lr"] = lr
        total = 0.0
        for _ in range(hp.gradient_steps):
            b = self.buffer.sample(hp.batch_size, hp.gamma, hp.n_step)
            obs, next_obs = b.obs.to(self.device), b.next_obs.to(self.device)
            with torch.no_grad():
                target_next = self.q_target(next_obs)
                if hp.double_q:
                    next_q = double_dqn_next_q(self.q(next_obs), target_next)
                else:
                    next_q = target_next.max(1).values
                target = td_target(b.rewards.to(self.device), next_q, b.discount.to(self.device))
            q_taken = self.q(obs).gather(1, b.actions.to(self.device)[:, None]).squeeze(1)
            loss = dqn_loss(q_taken, target, hp.huber)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            torch.nn.utils.clip_grad_norm_(self.q.parameters(), hp.max_grad_norm)
            opt.step()
            total += float(loss.detach())
        return total / hp.gradient_steps

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions (the evaluation callback's interface)."""
        return self.q(obs).argmax(-1)

    # ---------------------------------------------------------------------------- checkpoint
    def extra_state(self) -> dict[str, Any]:
        return {"replay": self.buffer.state_dict(), "last_target_update": self.last_target_update}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.buffer.load_state_dict(state["replay"])
        self.last_target_update = state["last_target_update"]
