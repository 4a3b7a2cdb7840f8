"""What every online RL method shares: envs, the "steps" dataloader, counters and checkpointing.

An RL method is an ordinary LightningModule, so the ordinary Trainer (and ``leyden fit``) runs it:

* The dataloader yields dummy step indices; each ``training_step`` collects experience from this
  rank's vector env and performs that experience's whole update with manual optimization, so the
  framework's per-step overhead is paid per rollout, not per gradient step.
* ``env_steps`` counts environment steps collected on this rank (ThroughputMonitor logs its rate);
  training stops when it reaches ``total_env_steps``.
* Under DDP every rank builds its own envs with its own seeds (:func:`leyden_rl.envs.env_seeds`);
  ``manual_backward`` all-reduces gradients, so the weights stay identical across ranks.
* The checkpoint holds counters, the episode log, RNG states and the current observations; off-policy
  methods add their replay buffer. On resume the envs are re-seeded from the restored counters
  (gymnasium envs cannot in general be serialised), so collection continues reproducibly.
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
from gymnasium.vector import VectorEnv
from lightning.pytorch.utilities.rank_zero import rank_zero_info
from torch.utils.data import DataLoader, IterableDataset

from leyden_core.checks import check_choice, check_count
from leyden_core.distributed import rank_seed
from leyden_core.errors import LeydenConfigError
from leyden_core.progress import TrainingProgress
from leyden_core.threads import applied_choice, apply_thread_policy
from leyden_rl.envs import env_seeds, make_env, make_vector_env


def _action_repeat(env: gym.Env) -> int:
    """Simulator steps per ``env.step``: the ``action_repeat`` a wrapper declares, else 1."""
    try:
        return int(env.get_wrapper_attr("action_repeat"))
    except AttributeError:
        return 1


def linear_schedule(start: float, progress: float, anneal: bool) -> float:
    """``start`` decayed linearly to 0 over training (``progress`` in [0, 1]) when ``anneal``."""
    return start * max(0.0, 1.0 - progress) if anneal else start


class StepsDataset(IterableDataset):
    """``length`` dummy batches: the Trainer's loop counter, not data (no DistributedSampler needed).

    Every RL method here collects its own experience inside ``training_step``; the Trainer still
    needs a dataloader to drive the loop, and this one only says how many iterations there are.
    """

    def __init__(self, length: int) -> None:
        self.length = length

    def __iter__(self) -> Iterator[torch.Tensor]:
        # Lazily: a large env-step budget is millions of iterations, too many tensors to build up front.
        return (torch.tensor([i]) for i in range(self.length))

    def __len__(self) -> int:
        return self.length


def steps_dataloader(iterations: int) -> DataLoader:
    """The dataloader of an RL LightningModule: ``iterations`` training steps, one dummy index each."""
    return DataLoader(StepsDataset(iterations), batch_size=None)


class EnvStepBudget:
    """What every RL LightningModule trained for a budget of env steps shares, RL² included.

    The budget is ``total_env_steps`` (per rank), so: the progress bar counts env steps (all ranks) out
    of the budget, ``--trainer.max_steps`` (which counts optimizer steps) is refused with the fix, and
    one torch thread per process is the default (unless a subclass prefers otherwise), from Python too.
    """

    # Small networks and Python-stepped envs: extra intra-op threads only wait at barriers (a CartPole
    # PPO run took 21.1 s with one thread per core, 12.5 s with one). See leyden_core.threads.
    preferred_num_threads = 1
    env_steps: int

    @property
    def env_step_budget(self) -> int:
        """``total_env_steps``: env steps this rank trains for."""
        return int(self.total_env_steps)  # type: ignore[attr-defined]

    def training_progress(self) -> TrainingProgress:
        """What the progress bar shows: env steps (all ranks) out of the budget (all ranks)."""
        world = self.trainer.world_size if self._trainer is not None else 1  # type: ignore[attr-defined]
        return TrainingProgress(self.env_steps * world, self.env_step_budget * world, "env steps")

    def check_fit_budget(self) -> None:
        """Refuse ``--trainer.max_steps`` and pick thread counts when no CLI did; call from ``setup("fit")``."""
        trainer: pl.Trainer = self.trainer  # type: ignore[attr-defined]
        if trainer.max_steps not in (-1, None) and not trainer.fast_dev_run:
            raise LeydenConfigError(
                f"--trainer.max_steps counts optimizer steps; {type(self).__name__} trains for env steps",
                f"use --model.total_env_steps {trainer.max_steps} and leave trainer.max_steps unset",
            )
        if applied_choice() is None:  # used from Python: the CLI has not chosen
            processes = getattr(trainer.strategy, "num_processes", 1)
            rank_zero_info(apply_thread_policy(processes, self.preferred_num_threads).describe())


class OnlineRLModule(EnvStepBudget, pl.LightningModule):
    """Base class: subclasses implement ``training_step`` (collect + update) and ``steps_per_iteration``."""

    def __init__(
        self,
        env_id: str,
        num_envs: int,
        total_env_steps: int,
        seed: int,
        vectorization: str = "sync",
        env_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_count("num_envs", num_envs)
        check_count("total_env_steps", total_env_steps)
        check_choice("vectorization", vectorization, ("sync", "async"))
        # The networks a subclass builds after this call start from ``seed``, so one seed is one run
        # (and every DDP rank starts from the same weights).
        torch.manual_seed(seed)
        self.automatic_optimization = False
        probe = make_env(env_id, env_kwargs=env_kwargs)  # spaces (and bad ids/extras) known at construction
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        # Simulator steps per env step (pixel/DMC envs repeat actions); env_steps counts simulator steps.
        self.action_repeat = _action_repeat(probe)
        probe.close()
        if not isinstance(self.observation_space, gym.spaces.Box):
            raise LeydenConfigError(
                f"{env_id!r} has observation space {self.observation_space}; Leyden's RL methods take arrays (Box)",
                "wrap the env in gymnasium.wrappers.FlattenObservation (one-hot for discrete parts)",
            )
        self.env_id, self.num_envs, self.total_env_steps, self.seed = env_id, num_envs, total_env_steps, seed
        self.vectorization, self.env_kwargs = vectorization, env_kwargs
        self.envs: VectorEnv | None = None
        self.obs: torch.Tensor | None = None
        self.env_steps = 0
        self.iterations = 0
        self.episode_log: list[tuple[int, float, int]] = []  # (env_steps at end, return, length)
        self._resume: dict[str, Any] | None = None

    # ------------------------------------------------------------------ loop plumbing
    @property
    def steps_per_iteration(self) -> int:
        """Env steps (this rank, all envs) that one ``training_step`` collects."""
        raise NotImplementedError

    def train_dataloader(self) -> DataLoader:
        return steps_dataloader(math.ceil(self.total_env_steps / self.steps_per_iteration))

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.check_fit_budget()
        if stage == "fit" and self.envs is None:
            self.envs = make_vector_env(
                self.env_id, self.num_envs, self.seed, self.vectorization, env_kwargs=self.env_kwargs
            )

    def on_fit_start(self) -> None:
        """Make torch's CUDA-availability check cheap again for the rest of this process's fit.

        Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` at import so that checking for a GPU does
        not initialise CUDA before it forks workers. ``Adam.step`` runs that check on every step, and
        through NVML it costs a library load each time (~5 % of a CartPole PPO iteration, where an
        iteration takes 20 small optimizer steps). Once fit has started, the launcher has already
        forked or spawned its processes, so the default (cached) check is safe; restored in
        :meth:`on_fit_end`.
        """
        self._nvml_check = os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)

    def on_fit_end(self) -> None:
        if getattr(self, "_nvml_check", None) is not None:
            os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] = self._nvml_check

    def on_train_start(self) -> None:
        """Seed this rank and reset the envs, or restore what a checkpoint left."""
        resume, self._resume = self._resume, None
        if resume is None:
            seed = rank_seed(self.seed)
            random.seed(seed)
            np.random.seed(seed % 2**32)
            torch.manual_seed(seed)
            obs, _ = self.envs.reset(seed=env_seeds(self.seed, self.num_envs))
        else:
            version, internal, gauss = resume["python_rng"]
            random.setstate((version, tuple(internal), gauss))
            keys, pos, has_gauss, cached = resume["numpy_rng"]
            np.random.set_state(("MT19937", keys.numpy().astype(np.uint32), pos, has_gauss, cached))
            torch.set_rng_state(resume["torch_rng"])
            obs, _ = self.envs.reset(seed=env_seeds(self.seed + 7919 * (self.iterations + 1), self.num_envs))
        self.obs = self.to_tensor(obs)

    def on_train_end(self) -> None:
        if self.envs is not None:
            self.envs.close()
            self.envs = None

    def to_tensor(self, x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(np.asarray(x))
        if t.dtype == torch.float64:
            t = t.float()
        return t.to(self.device, non_blocking=True)

    def step_envs(self, actions: np.ndarray) -> tuple[torch.Tensor, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every env; record finished episodes; returns (next_obs, rewards, terminated, truncated, info)."""
        next_obs, rewards, terminated, truncated, info = self.envs.step(actions)
        self.env_steps += self.num_envs * self.action_repeat
        final = info.get("final_info")
        if final is not None and "episode" in final:
            mask = final["_episode"]
            for r, length in zip(final["episode"]["r"][mask], final["episode"]["l"][mask]):
                self.episode_log.append((self.env_steps, float(r), int(length)))
        return self.to_tensor(next_obs), rewards, terminated, truncated, info

    def final_observations(self, next_obs: torch.Tensor, info: dict) -> torch.Tensor:
        """The true successor of each env's step: ``next_obs``, or the final obs where an episode ended."""
        if "_final_obs" not in info or not info["_final_obs"].any():
            return next_obs
        out = next_obs.clone()
        for i in np.flatnonzero(info["_final_obs"]):
            out[i] = self.to_tensor(info["final_obs"][i])
        return out

    def end_iteration(self, metrics: dict[str, Any]) -> None:
        """Stop once the env-step budget is spent; log metrics and recent returns when the logger writes.

        Lightning writes step metrics only every ``log_every_n_steps`` batches (and at the end); its
        own monitors (LearningRateMonitor, ThroughputMonitor) skip the others with the same
        ``should_update_logs`` check. Logging every iteration anyway cost ~8 % of a CartPole PPO run.
        """
        self.iterations += 1
        if self.env_steps >= self.total_env_steps:
            self.trainer.should_stop = True
        if not (self.trainer.fast_dev_run or self.trainer._logger_connector.should_update_logs):
            return
        recent = [r for _, r, _ in self.episode_log[-20:]]
        if recent:
            metrics["train/episode_return"] = float(np.mean(recent))
        metrics["train/env_steps"] = float(self.env_steps)
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False)

    # ------------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        # Only tensors and plain Python values, so Lightning's weights-only loading accepts it.
        version, internal, gauss = random.getstate()
        _, keys, pos, has_gauss, cached = np.random.get_state()
        checkpoint["leyden_rl"] = {
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "episode_log": [list(e) for e in self.episode_log],
            "python_rng": [version, list(internal), gauss],
            "numpy_rng": [torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
            "torch_rng": torch.get_rng_state(),
            **self.extra_state(),
        }

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["leyden_rl"]
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.episode_log = [tuple(e) for e in state["episode_log"]]
        self.load_extra_state(state)
        self._resume = state

    def extra_state(self) -> dict[str, Any]:
        """Method-specific state to checkpoint beyond parameters and optimizers (e.g. a replay buffer)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass
