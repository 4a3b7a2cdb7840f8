"""DAgger (Ross, Gordon & Bagnell, 2011): behaviour cloning on the learner's own state distribution.

One training epoch is one DAgger round ``i``:

1. run ``episodes_per_round`` episodes with the mixture ``π_i = β_i·expert + (1 − β_i)·learner``
   (per step: the expert's action with probability ``β_i``), ``β_i = beta0 · beta_decay^i``;
2. label every visited state with the **expert's** action and add it to the aggregate dataset D;
3. take ``updates_per_round`` minibatch steps of the BC loss on all of D (all rounds so far).

Round 0 with ``beta0 = 1`` collects pure expert data, i.e. starts as plain BC. Under DDP each rank
collects its own episodes (own seeds); the new rows are all-gathered so every rank holds the same D
(and the checkpoint holds all of it), and each rank draws its own minibatches from D.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from leyden_core.distributed import gather_uneven, rank, rank_seed
from leyden_rl.envs import make_env
from leyden_rl.imitation.bc import BehaviourCloning
from leyden_rl.imitation.demonstrations import episode_returns, rollout_episodes
from leyden_rl.imitation.experts import make_expert


class _Round(IterableDataset):
    """Iterating it is one DAgger round: collect and aggregate, then yield the round's minibatches."""

    def __init__(self, dagger: DAgger) -> None:
        self.dagger = dagger

    def __len__(self) -> int:
        return self.dagger.hparams.updates_per_round

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        d = self.dagger
        d.collect_round()
        g = torch.Generator().manual_seed(rank_seed(d.hparams.seed) + d.rounds_done)
        for _ in range(len(self)):
            idx = torch.randint(len(d.data_obs), (d.hparams.batch_size,), generator=g)
            yield d.data_obs[idx], d.data_actions[idx]


class DAgger(BehaviourCloning):
    """DAgger with an expert callable (see :mod:`leyden_rl.imitation.experts`); a BC policy otherwise.

    Args:
        expert, expert_kwargs: :func:`~leyden_rl.imitation.experts.make_expert` name and arguments
            ("cartpole", "particle_reaching", or "checkpoint" with ``{checkpoint: path, model: PPO}``).
        rounds: DAgger iterations; training stops after the last.
        episodes_per_round: episodes collected per round on each rank.
        updates_per_round, batch_size: minibatch steps on the aggregate per round, and their size.
        beta0, beta_decay: the expert-mixture schedule ``β_i = beta0 · beta_decay^i``.
        seed: round i, rank r plays episodes seeded ``seed + 1000·r + 100_000·i + e``.
        Other arguments as :class:`~leyden_rl.imitation.bc.BehaviourCloning`.
    """

    def __init__(
        self, env_id: str = "CartPole-v1", expert: str = "cartpole", expert_kwargs: dict[str, Any] | None = None,
        rounds: int = 5, episodes_per_round: int = 2, updates_per_round: int = 200, batch_size: int = 64,
        beta0: float = 1.0, beta_decay: float = 0.5, seed: int = 0, hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "relu", loss: str = "auto", learning_rate: float = 1e-3, weight_decay: float = 0.0,
        eval_episodes: int = 0, eval_seed: int = 10_000, env_kwargs: dict[str, Any] | None = None,
    ) -> None:  # fmt: skip
        super().__init__(
            env_id,
            hidden_sizes,
            activation,
            loss,
            learning_rate,
            weight_decay,
            eval_episodes,
            eval_seed,
            env_kwargs,
        )
        self.save_hyperparameters()
        self.expert = make_expert(expert, **(expert_kwargs or {}))
        obs_shape, act_shape = self.observation_space.shape, self.action_space.shape
        self.data_obs = torch.zeros(0, *obs_shape)
        self.data_actions = torch.zeros(0, *act_shape, dtype=torch.long if self.discrete else torch.float32)
        self.rounds_done = 0
        self.round_returns: list[float] = []  # mean return of the episodes each round collected

    def beta(self, round_index: int) -> float:
        return self.hparams.beta0 * self.hparams.beta_decay**round_index

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Round(self), batch_size=None)

    def collect_round(self) -> None:
        """Steps 1–2: play the β-mixture, label with the expert, aggregate (identically on every rank)."""
        hp, i = self.hparams, self.rounds_done
        rng = np.random.default_rng([hp.seed, rank(), i])
        beta = self.beta(i)

        def mixture(obs: np.ndarray, env) -> Any:
            return self.expert(obs, env) if rng.random() < beta else self.policy(obs, env)

        env = make_env(self.env_id, env_kwargs=self.env_kwargs)
        was_training = self.training
        self.eval()
        episodes = rollout_episodes(
            env, mixture, hp.episodes_per_round, rank_seed(hp.seed) + 100_000 * i, label=self.expert
        )
        self.train(was_training)
        env.close()
        obs = gather_uneven(torch.from_numpy(episodes["observations"]).float())
        actions = gather_uneven(torch.from_numpy(episodes["actions"]))
        self.data_obs = torch.cat([self.data_obs, obs])
        self.data_actions = torch.cat([self.data_actions, actions])
        self.round_returns.append(float(episode_returns(episodes).mean()))
        self.rounds_done += 1

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        obs, actions = (t.to(self.device) for t in batch)
        return super().training_step((obs, actions), batch_idx)

    def on_train_epoch_end(self) -> None:
        i = self.rounds_done - 1
        self.log_dict(
            {"dagger/round": float(i), "dagger/beta": self.beta(i), "dagger/dataset_size": float(len(self.data_obs)),
             "dagger/collect_return": self.round_returns[-1]}, on_step=False, on_epoch=True,
        )  # fmt: skip
        self.log_evaluation()
        if self.rounds_done >= self.hparams.rounds:
            self.trainer.should_stop = True

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["dagger"] = {
            "obs": self.data_obs, "actions": self.data_actions, "rounds_done": self.rounds_done,
            "round_returns": list(self.round_returns),
        }  # fmt: skip

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["dagger"]
        self.data_obs, self.data_actions = state["obs"], state["actions"]
        self.rounds_done, self.round_returns = state["rounds_done"], list(state["round_returns"])
