"""Episodes of the block world: expert demonstrations, lockstep rollouts of a learner, pairs of the same task.

One-shot imitation trains on *pairs*: a clean expert demonstration of a task in one layout and an
episode of the same task in another layout whose states are labelled with the expert's actions.
:func:`run_episodes` plays many envs in lockstep so a learner acts on a whole batch per step; it
serves data generation (expert with DART-style action noise), DAgger (a β-mixture of expert and
learner, expert labels) and evaluation (the learner alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.imitation.blocks.env import BlockStackingEnv
from leyden_rl.imitation.blocks.expert import current_stage, expert_action
from leyden_rl.imitation.blocks.tasks import num_stages

MAX_FRUITLESS_BATCHES = 5  # expert_pairs gives up after this many batches without a successful demonstration

# A learner for run_episodes: (observations (M, D), indices of those envs in the batch) -> actions (M, 4)
Learner = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Episode:
    task: str
    observations: np.ndarray  # (T, D) float32
    labels: np.ndarray  # (T, 4) float32: the expert's action in each state
    stages: np.ndarray  # (T, 2) int64: the expert's (block, base) in each state, −1 when done
    stages_done: int
    success: bool
    diverged: bool  # the simulation diverged and ended the episode (see BlockStackingEnv)

    @property
    def num_stages(self) -> int:
        return num_stages(self.task)


def run_episodes(
    envs: Sequence[gym.Env], tasks: Sequence[str], seeds: Sequence[int], learner: Learner | None = None,
    beta: float = 0.0, action_noise: float = 0.0, rng: np.random.Generator | None = None,
) -> list[Episode]:  # fmt: skip
    """Play one episode per env (``envs[i]`` reset with ``seeds[i]`` on ``tasks[i]``), all in lockstep.

    An env may be a wrapped :class:`BlockStackingEnv` (e.g. physics randomization): episodes step
    through the wrappers, the expert reads the world under them.

    Executed action: the learner's, or with probability ``beta`` per step (always without a learner)
    the expert's plus N(0, ``action_noise``²) on the hand motion. Every state is labelled with the
    expert's clean action. Success and stages in place are read on each episode's last step.
    """
    rng = rng or np.random.default_rng(0)
    worlds: list[BlockStackingEnv] = [env.unwrapped for env in envs]
    obs = [env.reset(seed=int(s), options={"task": t})[0] for env, t, s in zip(envs, tasks, seeds)]
    rows: list[list[tuple[np.ndarray, np.ndarray, tuple[int, int]]]] = [[] for _ in envs]
    infos: list[dict] = [{} for _ in envs]
    active = np.ones(len(envs), dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        labels = np.stack([expert_action(worlds[i]) for i in idx])
        actions = labels.copy()
        if action_noise:
            actions[:, :3] += action_noise * rng.standard_normal((len(idx), 3))
        if learner is not None:
            use_learner = rng.random(len(idx)) >= beta
            if use_learner.any():
                actions[use_learner] = learner(np.stack([obs[i] for i in idx[use_learner]]), idx[use_learner])
        for k, i in enumerate(idx):
            rows[i].append((obs[i], labels[k], current_stage(worlds[i])))
            obs[i], _, terminated, truncated, infos[i] = envs[i].step(actions[k])
            active[i] = not (terminated or truncated)
    return [
        Episode(
            t, np.stack([o for o, _, _ in r]), np.stack([a for _, a, _ in r]),
            np.array([s for _, _, s in r], dtype=np.int64), info["stages_done"], info["success"],
            info["diverged"],
        )
        for t, r, info in zip(tasks, rows, infos)
    ]  # fmt: skip


def demo_tensors(demos: Sequence[Episode], stride: int) -> dict[str, torch.Tensor]:
    """Demonstrations (every ``stride``-th step, always ending on the last one) padded into
    ``demo_obs`` (B, Td, D), ``demo_actions`` (B, Td, 4) and ``demo_mask`` (B, Td)."""
    picked = [
        np.unique(np.r_[np.arange(0, len(d.observations), stride), len(d.observations) - 1]) for d in demos
    ]
    length = max(len(p) for p in picked)
    dim = demos[0].observations.shape[1]
    obs = np.zeros((len(demos), length, dim), np.float32)
    actions = np.zeros((len(demos), length, 4), np.float32)
    mask = np.zeros((len(demos), length), bool)
    for i, (d, p) in enumerate(zip(demos, picked)):
        obs[i, : len(p)], actions[i, : len(p)], mask[i, : len(p)] = d.observations[p], d.labels[p], True
    return {
        "demo_obs": torch.from_numpy(obs),
        "demo_actions": torch.from_numpy(actions),
        "demo_mask": torch.from_numpy(mask),
    }


def episode_tensors(episodes: Sequence[Episode]) -> dict[str, torch.Tensor]:
    """Target episodes padded: ``obs`` (B, T, D), ``actions`` (B, T, 4), ``stage`` (B, T, 2), ``length`` (B,)."""
    length = max(len(e.observations) for e in episodes)
    dim = episodes[0].observations.shape[1]
    obs = np.zeros((len(episodes), length, dim), np.float32)
    actions = np.zeros((len(episodes), length, 4), np.float32)
    stage = np.full((len(episodes), length, 2), -1, np.int64)
    for i, e in enumerate(episodes):
        n = len(e.observations)
        obs[i, :n], actions[i, :n], stage[i, :n] = e.observations, e.labels, e.stages
    lengths = torch.tensor([len(e.observations) for e in episodes])
    return {
        "obs": torch.from_numpy(obs), "actions": torch.from_numpy(actions), "stage": torch.from_numpy(stage),
        "length": lengths,
    }  # fmt: skip


def expert_pairs(
    tasks: Sequence[str], num_blocks: int, num_pairs: int, seed: int, action_noise: float = 0.0,
    batch: int = 32, env_kwargs: dict | None = None, wrapper: Callable[[BlockStackingEnv], gym.Env] | None = None,
) -> tuple[list[Episode], list[Episode]]:  # fmt: skip
    """``num_pairs`` (demonstration, target episode) pairs; tasks cycle through ``tasks`` in a seeded
    order (so every task is used about equally). Only pairs whose demonstration succeeded and whose
    target episode did not diverge are kept (a failed demonstration would teach the wrong task, a
    diverged simulation absurd states); the rest are replaced. ``wrapper`` wraps every
    env (e.g. physics randomization: each episode then draws its own physics)."""
    rng = np.random.default_rng(seed)
    envs: list[gym.Env] = [
        BlockStackingEnv(num_blocks, tasks=tasks, **(env_kwargs or {})) for _ in range(batch)
    ]
    if wrapper is not None:
        envs = [wrapper(env) for env in envs]
    demos: list[Episode] = []
    targets: list[Episode] = []
    order: list[int] = []
    fruitless = 0  # batches in a row without a successful demonstration
    while len(demos) < num_pairs:
        if fruitless == MAX_FRUITLESS_BATCHES:
            raise LeydenConfigError(
                f"no demonstration succeeded in {fruitless * batch} scripted-expert episodes",
                "give the episodes time (steps_per_stage, horizon) and physics the grasp holds in",
            )
        while len(order) < batch:
            order += list(rng.permutation(len(tasks)))
        chosen, order = [tasks[i] for i in order[:batch]], order[batch:]
        seeds = rng.integers(2**31, size=(2, len(chosen)))
        shown = run_episodes(envs[: len(chosen)], chosen, seeds[0], rng=rng)
        played = run_episodes(envs[: len(chosen)], chosen, seeds[1], action_noise=action_noise, rng=rng)
        fruitless = 0 if any(d.success for d in shown) else fruitless + 1
        for d, p in zip(shown, played):
            if d.success and not p.diverged and len(demos) < num_pairs:
                demos.append(d)
                targets.append(p)
    return demos, targets
