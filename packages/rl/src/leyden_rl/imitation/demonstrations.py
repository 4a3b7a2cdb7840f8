"""Demonstrations: run any policy for whole episodes, save them to a file, load them as a DataModule.

A policy (expert or learner) is any callable ``policy(obs, env) -> action`` for one observation;
it gets the env too, so a scripted expert may read privileged state (the particle-reaching
target) that the observation hides. :mod:`leyden_rl.imitation.experts` has scripted experts and
one that wraps a trained Leyden checkpoint.

File format — a numpy ``.npz`` (``np.load(path)``), one row per environment step:

=================  =====================  =================================================
``observations``   (N, \\*obs_shape)       observation the action was taken in
``actions``        (N, \\*action_shape)    the recorded action: int64 for Discrete, float32 for Box
``rewards``        (N,) float32           reward of that step
``episode_starts`` (E,) int64             row of each episode's first step
``episode_ends``   (E,) int64             one past each episode's last row
``episode_tasks``  (E,) int64             ``info["task"]`` at reset when the env reports one, else −1
``env_id``         () str                 gymnasium id the episodes were recorded in
``env_kwargs``     () str                 JSON of the env's keyword arguments
``seed``           () int64               episode e was reset with ``seed + e``
=================  =====================  =================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from leyden_core.errors import LeydenConfigError
from leyden_rl.envs import make_env

Policy = Callable[[np.ndarray, gym.Env], Any]
KEYS = (
    "observations",
    "actions",
    "rewards",
    "episode_starts",
    "episode_ends",
    "episode_tasks",
    "env_id",
    "seed",
)


def rollout_episodes(
    env: gym.Env, act: Policy, num_episodes: int, seed: int, label: Policy | None = None
) -> dict[str, np.ndarray]:
    """Play ``num_episodes`` episodes (episode e reset with ``seed + e``) executing ``act``.

    Each row records the observation and ``label(obs, env)`` — by default the executed action;
    DAgger executes its β-mixture and records the expert's label instead.
    """
    obs_rows, action_rows, rewards, starts, ends, tasks = [], [], [], [], [], []
    for episode in range(num_episodes):
        obs, info = env.reset(seed=seed + episode)
        starts.append(len(obs_rows))
        tasks.append(int(info.get("task", -1)))
        done = False
        while not done:
            action = act(obs, env)
            obs_rows.append(obs)
            action_rows.append(action if label is None else label(obs, env))
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            done = terminated or truncated
        ends.append(len(obs_rows))
    discrete = isinstance(env.action_space, gym.spaces.Discrete)
    return {
        "observations": np.stack(obs_rows),
        "actions": np.asarray(action_rows, dtype=np.int64 if discrete else np.float32),
        "rewards": np.asarray(rewards, dtype=np.float32),
        "episode_starts": np.asarray(starts, dtype=np.int64),
        "episode_ends": np.asarray(ends, dtype=np.int64),
        "episode_tasks": np.asarray(tasks, dtype=np.int64),
    }


def episode_returns(episodes: dict[str, np.ndarray]) -> np.ndarray:
    """Undiscounted return of every episode."""
    return (
        np.add.reduceat(episodes["rewards"], episodes["episode_starts"])
        if len(episodes["rewards"])
        else np.zeros(0)
    )


def record_demonstrations(
    policy: Policy, env_id: str, num_episodes: int, path: str | Path, seed: int = 0,
    env_kwargs: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Record ``num_episodes`` episodes of ``policy`` in ``env_id`` to ``path`` (.npz, format above)."""
    env = make_env(env_id, env_kwargs=env_kwargs)
    episodes = rollout_episodes(env, policy, num_episodes, seed)
    env.close()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        **episodes,
        env_id=np.array(env_id),
        env_kwargs=np.array(json.dumps(env_kwargs or {})),
        seed=np.array(seed),
    )
    return path


def load_demonstrations(path: str | Path) -> dict[str, Any]:
    """Load and check a demonstrations file; any problem is a LeydenConfigError saying how to fix it."""
    path = Path(path)
    fix = "record one with leyden_rl.imitation.demonstrations.record_demonstrations(policy, env_id, n, path)"
    if not path.is_file():
        raise LeydenConfigError(f"demonstrations file {str(path)!r} does not exist", fix)
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in KEYS if k not in f]
        if missing:
            raise LeydenConfigError(f"{path} is not a Leyden demonstrations file (missing {missing})", fix)
        data = {k: f[k] for k in f.files}
    n, starts, ends = len(data["observations"]), data["episode_starts"], data["episode_ends"]
    if len(data["actions"]) != n or len(data["rewards"]) != n:
        raise LeydenConfigError(
            f"{path}: {n} observations but {len(data['actions'])} actions and {len(data['rewards'])} rewards",
            "observations, actions and rewards need one row per step; re-record the file",
        )
    if (
        starts.shape != ends.shape
        or len(starts) == 0
        or starts[0] != 0
        or ends[-1] != n
        or (starts[1:] != ends[:-1]).any()
    ):
        raise LeydenConfigError(
            f"{path}: episode_starts/episode_ends do not tile the {n} steps into consecutive episodes",
            "episode e must cover rows episode_starts[e]:episode_ends[e], back to back; re-record the file",
        )
    data["env_id"], data["seed"] = str(data["env_id"]), int(data["seed"])
    data["env_kwargs"] = json.loads(str(data.get("env_kwargs", "{}")))
    return data


class DemonstrationDataModule(pl.LightningDataModule):
    """(observation, action) pairs of a demonstrations file, split into train/val **by episode**.

    Args:
        path: the ``.npz`` written by :func:`record_demonstrations`.
        num_episodes: use only the first this many episodes (learning curves over demo counts).
        val_fraction: fraction of the episodes held out (none when only one episode is used).
        batch_size, seed: minibatch size; seed of the episode split.
    """

    def __init__(
        self, path: str, batch_size: int = 256, val_fraction: float = 0.2, num_episodes: int | None = None,
        seed: int = 0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.save_hyperparameters()
        self.demos = load_demonstrations(path)
        total = len(self.demos["episode_starts"])
        if num_episodes is not None and not 1 <= num_episodes <= total:
            raise LeydenConfigError(
                f"num_episodes={num_episodes} but {path} holds {total} episodes", f"pass 1..{total} or null"
            )
        self.env_id, self.env_kwargs = self.demos["env_id"], self.demos["env_kwargs"]
        self.observation_shape = tuple(self.demos["observations"].shape[1:])
        episodes = np.arange(num_episodes or total)
        order = np.random.default_rng(seed).permutation(episodes)
        n_val = int(round(val_fraction * len(episodes))) if len(episodes) > 1 else 0
        self.val_episodes, self.train_episodes = np.sort(order[:n_val]), np.sort(order[n_val:])
        self.train, self.val = self._rows(self.train_episodes), self._rows(self.val_episodes)

    def _rows(self, episodes: np.ndarray) -> TensorDataset:
        d = self.demos
        rows = np.concatenate(
            [np.arange(d["episode_starts"][e], d["episode_ends"][e]) for e in episodes] or [[]]
        )
        rows = rows.astype(np.int64)
        return TensorDataset(torch.from_numpy(d["observations"][rows]), torch.from_numpy(d["actions"][rows]))

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train, batch_size=self.hparams.batch_size, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=self.hparams.batch_size)
