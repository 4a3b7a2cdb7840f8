"""Evaluation during training: deterministic episodes on separate envs, return curves, videos."""

from __future__ import annotations

from importlib.util import find_spec

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities.rank_zero import rank_zero_warn

from leyden_core.wandb_logging import log_video
from leyden_rl.envs import check_render, make_vector_env


class EvaluationCallback(Callback):
    """Every ``every_n_env_steps`` env steps, run ``num_episodes`` greedy/deterministic episodes.

    Evaluation uses its own vector env (seeded apart from training, rewards unclipped) so it never
    disturbs the training envs' episodes. Logs ``eval/episode_return`` (mean) and
    ``eval/episode_return_std``, keeps the curve in :attr:`history` as ``(env_steps, mean return)``,
    and every ``video_every_n`` evaluations logs one episode as a W&B video (rank 0; needs an env
    that renders ``rgb_array`` frames, else a LeydenConfigError at the start of training).

    Videos need the ``video`` extra (moviepy, imageio). Without it the run starts with one warning and
    records no videos; evaluation returns are logged as usual (a missing extra must not end a long run
    at its first video).
    """

    def __init__(
        self, every_n_env_steps: int = 10_000, num_episodes: int = 5, num_envs: int = 5,
        video_every_n: int = 0, max_video_frames: int = 1000, seed: int = 10_000,
    ) -> None:  # fmt: skip
        self.every_n_env_steps, self.num_episodes, self.num_envs = every_n_env_steps, num_episodes, num_envs
        self.video_every_n, self.max_video_frames, self.seed = video_every_n, max_video_frames, seed
        self.history: list[tuple[int, float]] = []
        self._next = every_n_env_steps
        self._count = 0
        self._envs = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        missing = missing_video_modules() if self.video_every_n else []
        if missing:
            rank_zero_warn(
                f"no evaluation videos: {' and '.join(missing)} not installed; "
                "install them with: pip install 'leyden-rl[video]'"
            )
            self.video_every_n = 0
        render = "rgb_array" if self.video_every_n else None
        self._envs = make_vector_env(
            pl_module.env_id, self.num_envs, self.seed, render_mode=render, clip_rewards=False,
            env_kwargs=pl_module.env_kwargs,
        )  # fmt: skip
        if self.video_every_n:
            check_render(self._envs, pl_module.env_id)
        self._next = (pl_module.env_steps // self.every_n_env_steps + 1) * self.every_n_env_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.env_steps < self._next:
            return
        self._next += self.every_n_env_steps
        self._count += 1
        returns, frames = self.evaluate(
            pl_module, record=bool(self.video_every_n) and self._count % self.video_every_n == 0
        )
        mean = float(np.mean(returns))
        self.history.append((pl_module.env_steps, mean))
        pl_module.log_dict(
            {"eval/episode_return": mean, "eval/episode_return_std": float(np.std(returns))},
            on_step=True, on_epoch=False,
        )  # fmt: skip
        if frames:
            log_video(trainer, "eval/video", np.stack(frames), fps=30)

    @torch.no_grad()
    def evaluate(
        self, pl_module: pl.LightningModule, record: bool = False
    ) -> tuple[list[float], list[np.ndarray]]:
        """Returns of ``num_episodes`` complete episodes, and env 0's frames of its first episode if ``record``."""
        envs = self._envs
        obs, _ = envs.reset(seed=[self.seed + i for i in range(self.num_envs)])
        returns: list[float] = []
        frames: list[np.ndarray] = []
        recording = record
        # a recurrent policy carries each env's memory; SAME_STEP autoreset: the obs after an episode's
        # last step is the next episode's first, so the memory restarts there
        recurrent = hasattr(pl_module, "act_with_memory")
        if recurrent:
            memory = pl_module.policy.initial_memory(self.num_envs, pl_module.device)
            starts = torch.ones(self.num_envs, dtype=torch.bool, device=pl_module.device)
        while len(returns) < self.num_episodes:
            if recording and len(frames) < self.max_video_frames:
                frames.append(envs.call("render")[0])
            if recurrent:
                action, memory = pl_module.act_with_memory(pl_module.to_tensor(obs), memory, starts)
            else:
                action = pl_module.act(pl_module.to_tensor(obs), deterministic=True)
            obs, _, terminated, truncated, info = envs.step(action.cpu().numpy())
            if recurrent:
                starts = torch.as_tensor(terminated | truncated, device=pl_module.device)
            final = info.get("final_info")
            if final is not None and "episode" in final:
                mask = final["_episode"]
                returns.extend(float(r) for r in final["episode"]["r"][mask])
                if mask[0]:
                    recording = False
        return returns[: self.num_episodes], frames

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._envs is not None:
            self._envs.close()
            self._envs = None

    def state_dict(self) -> dict:
        return {"history": self.history, "count": self._count}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = [tuple(h) for h in state_dict["history"]]
        self._count = state_dict["count"]


VIDEO_MODULES = ("moviepy", "imageio")


def missing_video_modules() -> list[str]:
    """The modules of the ``video`` extra that are not installed (wandb.Video needs both)."""
    return [name for name in VIDEO_MODULES if find_spec(name) is None]
