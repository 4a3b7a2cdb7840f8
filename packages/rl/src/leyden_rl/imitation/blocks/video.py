"""Frames of a demonstration beside the policy's imitation of it, for GIFs and W&B videos."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.utilities import rank_zero_warn

from leyden_core.errors import LeydenConfigError
from leyden_core.wandb_logging import log_video
from leyden_rl.callbacks import missing_video_modules
from leyden_rl.imitation.blocks.data import Episode
from leyden_rl.imitation.blocks.env import BlockStackingEnv
from leyden_rl.imitation.blocks.expert import current_stage, expert_action
from leyden_rl.imitation.blocks.one_shot import OneShotBlocksDataModule, OneShotBlockStacking, learner


def _play(env: BlockStackingEnv, task: str, seed: int, act, every: int) -> tuple[list[np.ndarray], Episode]:
    obs, info = env.reset(seed=seed, options={"task": task})
    frames, rows, done = [env.render()], [], False
    while not done:
        action = expert_action(env) if act is None else act(obs[None], np.zeros(1, dtype=np.int64))[0]
        rows.append((obs, action, current_stage(env)))
        obs, _, _, done, info = env.step(action)
        if env.t % every == 0 or done:
            frames.append(env.render())
    episode = Episode(task, np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]), np.array([r[2] for r in rows]),
                      info["stages_done"], info["success"], info["diverged"])  # fmt: skip
    return frames, episode


def demonstration_and_imitation(
    model: OneShotBlockStacking, task: str, seed: int, num_blocks: int = 4, demo_stride: int = 4, every: int = 2,
    size: tuple[int, int] = (180, 240),
) -> tuple[np.ndarray, bool]:  # fmt: skip
    """(frames (F, H, 2W, 3) uint8, success): the expert's demonstration of ``task`` (left) and, from
    another layout, ``model`` conditioned on it (right); the shorter side holds its last frame."""
    env = BlockStackingEnv(num_blocks, tasks=[task], render_mode="rgb_array", render_size=size)
    demo_frames, demo = _play(env, task, seed, None, every)
    model.eval()
    imitation_frames, played = _play(env, task, seed + 1, learner(model, [demo], demo_stride), every)
    env.close()
    length = max(len(demo_frames), len(imitation_frames))
    pad = lambda f: f + [f[-1]] * (length - len(f))  # noqa: E731
    return np.stack(
        [np.concatenate(pair, 1) for pair in zip(pad(demo_frames), pad(imitation_frames))]
    ), played.success


class ImitationVideo(pl.Callback):
    """Every ``every_n_epochs`` epochs, a held-out task's demonstration beside the policy's imitation of it,
    logged to W&B as ``eval/imitation`` (rank 0), with ``eval/imitation_success`` for that episode.

    The task cycles through the held-out arrangements. Needs the ``video`` extra
    (moviepy, imageio) and MuJoCo rendering (``MUJOCO_GL=egl`` headless); without the extra the run starts
    with one warning and logs no video.
    """

    def __init__(
        self, every_n_epochs: int = 5, seed: int = 10_000, size: tuple[int, int] = (120, 160)
    ) -> None:
        self.every_n_epochs, self.seed, self.size = every_n_epochs, seed, tuple(size)
        self._enabled, self._count = True, 0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        missing = missing_video_modules()
        if missing:
            rank_zero_warn(
                f"no imitation videos: {' and '.join(missing)} not installed; "
                "install them with: pip install 'leyden-rl[video]'"
            )
            self._enabled = False
        if self._enabled and trainer.is_global_zero:  # fail now, not at the first video hours in
            try:
                env = BlockStackingEnv(2, render_mode="rgb_array", render_size=(16, 16))
                env.reset(seed=0)
                env.render()
                env.close()
            except Exception as err:
                raise LeydenConfigError(
                    f"ImitationVideo cannot render MuJoCo frames here ({type(err).__name__}: {err})",
                    "install EGL (Debian: libegl1 libgl1) and set MUJOCO_GL=egl, or remove the ImitationVideo callback",
                ) from err

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        data = getattr(trainer, "datamodule", None)
        if not (self._enabled and trainer.is_global_zero and isinstance(data, OneShotBlocksDataModule)):
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        tasks = data.held_out_tasks or data.train_tasks
        task = tasks[self._count % len(tasks)]
        self._count += 1
        frames, success = demonstration_and_imitation(
            pl_module, task, self.seed + self._count, data.hparams.num_blocks, data.hparams.demo_stride,
            size=self.size,
        )  # fmt: skip
        pl_module.train()
        log_video(trainer, "eval/imitation", frames, fps=10)
        pl_module.log("eval/imitation_success", float(success), rank_zero_only=True)
