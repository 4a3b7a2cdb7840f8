"""Behaviour cloning: supervised learning of the expert's action from the observation.

``loss`` picks the likelihood (:func:`leyden_rl.losses.behaviour_cloning_loss`): cross-entropy
for Discrete actions; for Box actions ``mse`` (the default — a deterministic expert's actions
have no spread to model, so a fixed-variance Gaussian is the maximum-likelihood choice) or
``gaussian_nll`` (a learned state-independent std, for noisy or human demonstrations).

Validation logs the held-out episodes' loss (and accuracy for Discrete actions) and, with
``eval_episodes > 0``, the mean return of that many greedy episodes in ``env_id`` — a torchmetrics
mean, so under DDP it covers every rank's episodes.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
import torchmetrics
from torch import nn

from leyden_core.distributed import rank_seed
from leyden_core.errors import LeydenConfigError
from leyden_rl.envs import make_env
from leyden_rl.imitation.demonstrations import episode_returns, rollout_episodes
from leyden_rl.losses import BC_LOSSES, behaviour_cloning_loss
from leyden_rl.networks import action_dim, make_encoder


class BehaviourCloning(pl.LightningModule):
    """π(a|s) fitted to (observation, action) batches, e.g. from a :class:`DemonstrationDataModule`.

    Args:
        env_id, env_kwargs: the env the demonstrations come from (spaces, evaluation episodes).
        hidden_sizes, activation: MLP policy (a NatureCNN for image observations).
        loss: "auto" (cross_entropy for Discrete, mse for Box), or one of ``BC_LOSSES``.
        learning_rate, weight_decay: AdamW.
        eval_episodes, eval_seed: greedy evaluation episodes per validation (0 = none).
        (DAgger, which has no validation data, evaluates after every round.)
    """

    def __init__(
        self, env_id: str = "CartPole-v1", hidden_sizes: tuple[int, ...] = (64, 64), activation: str = "relu",
        loss: str = "auto", learning_rate: float = 1e-3, weight_decay: float = 0.0, eval_episodes: int = 10,
        eval_seed: int = 10_000, env_kwargs: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        probe = make_env(env_id, env_kwargs=env_kwargs)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        probe.close()
        self.env_id, self.env_kwargs = env_id, env_kwargs
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self.loss_kind = ("cross_entropy" if self.discrete else "mse") if loss == "auto" else loss
        if self.loss_kind not in BC_LOSSES or (self.loss_kind == "cross_entropy") != self.discrete:
            raise LeydenConfigError(
                f"loss {loss!r} does not fit the action space {self.action_space}",
                "use 'auto', 'cross_entropy' for Discrete actions, or 'mse'/'gaussian_nll' for Box actions",
            )
        self.encoder = make_encoder(self.observation_space, tuple(hidden_sizes), activation)
        self.head = nn.Linear(self.encoder.num_features, action_dim(self.action_space))
        self.log_std = nn.Parameter(
            torch.zeros(action_dim(self.action_space)), requires_grad=loss == "gaussian_nll"
        )
        self.eval_return = torchmetrics.MeanMetric()

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits (Discrete) or action means (Box)."""
        return self.head(self.encoder(obs))

    def bc_loss(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        return behaviour_cloning_loss(self(obs), actions, self.loss_kind, self.log_std)

    def on_fit_start(self) -> None:
        data = self.trainer.datamodule
        if getattr(data, "env_id", self.env_id) != self.env_id:
            raise LeydenConfigError(
                f"the demonstrations were recorded in {data.env_id!r} but the model's env_id is {self.env_id!r}",
                f"set model.init_args.env_id: {data.env_id}",
            )
        shape = getattr(data, "observation_shape", self.observation_space.shape)
        if tuple(shape) != self.observation_space.shape:
            raise LeydenConfigError(
                f"demonstration observations have shape {shape}, {self.env_id} gives {self.observation_space.shape}",
                "record the demonstrations with the same env and env_kwargs as the model",
            )

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        loss = self.bc_loss(*batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        obs, actions = batch
        self.log("val/loss", self.bc_loss(obs, actions), sync_dist=True)
        if self.discrete:
            self.log("val/accuracy", (self(obs).argmax(-1) == actions).float().mean(), sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        if not self.trainer.sanity_checking:
            self.log_evaluation()

    def log_evaluation(self) -> None:
        """Log ``val/episode_return`` over ``eval_episodes`` greedy episodes per rank (if any)."""
        if self.hparams.eval_episodes:
            returns = self.evaluate(self.hparams.eval_episodes, rank_seed(self.hparams.eval_seed))
            self.eval_return.update(torch.as_tensor(returns, dtype=torch.float32, device=self.device))
            self.log("val/episode_return", self.eval_return, prog_bar=True)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, deterministic: bool = True) -> torch.Tensor:
        """Greedy actions for a batch of observations (argmax, or the mean clipped to the Box)."""
        out = self(obs)
        if self.discrete:
            return out.argmax(-1)
        low, high = (
            torch.as_tensor(b, device=out.device) for b in (self.action_space.low, self.action_space.high)
        )
        return torch.maximum(torch.minimum(out, high), low)

    def policy(self, obs: np.ndarray, env: gym.Env) -> Any:
        """This policy in the ``policy(obs, env)`` form rollouts take."""
        action = self.act(torch.as_tensor(obs, device=self.device)[None].float())[0].cpu().numpy()
        return action.item() if self.discrete else action

    def evaluate(self, num_episodes: int, seed: int) -> np.ndarray:
        """Returns of ``num_episodes`` greedy episodes (episode e reset with ``seed + e``)."""
        env = make_env(self.env_id, env_kwargs=self.env_kwargs)
        returns = episode_returns(rollout_episodes(env, self.policy, num_episodes, seed))
        env.close()
        return returns

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.AdamW(self.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)
