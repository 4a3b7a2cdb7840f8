"""Watch an RL² agent: the frames it saw over one trial, as a W&B video during training or a GIF after.

A trial is the unit RL² learns over (explore in the first episode, exploit in the next), so the video
shows a whole trial of a held-out task: the memory starts at zero, persists across the episodes and the
agent samples its actions as in training. Only task families that observe images (C, H, W) can be watched.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from lightning.pytorch.utilities import rank_zero_warn

from leyden_core.errors import LeydenConfigError
from leyden_core.wandb_logging import log_video
from leyden_rl.callbacks import missing_video_modules
from leyden_rl.meta.policy_base import TrialPolicy, feedback
from leyden_rl.meta.task_distribution import TaskDistribution


def check_watchable(tasks: TaskDistribution) -> None:
    """Refuse a family whose observations are not RGB or grey images."""
    shape = tuple(tasks.obs_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise LeydenConfigError(
            f"{type(tasks).__name__} observes shape {shape}, not an image (C, H, W) that a video can show",
            "use TrialVideo with a pixel task family such as leyden_rl.meta.maze.RandomMazes",
        )


@torch.no_grad()
def record_trial(
    policy: TrialPolicy,
    tasks: TaskDistribution,
    seed: int,
    scale: int = 4,
    device: torch.device | str = "cpu",
) -> np.ndarray:
    """The (T, H·scale, W·scale, 3) uint8 frames of one trial of a task drawn with ``seed``.

    Frames after the trial's last episode (a family shows black while the batch waits) are left out.
    """
    check_watchable(tasks)
    trials = tasks.batch(1, seed, device)
    generator = torch.Generator(device=device).manual_seed(seed)
    obs, hidden = trials.reset(), policy.initial_state(1, device)
    previous = torch.zeros(1, 1, tasks.num_actions + 2, device=device)
    frames = []
    for _ in range(trials.trial_length):
        frames.append(obs[0])
        out = policy(obs[None], previous, hidden)
        action = torch.multinomial(F.softmax(out.logits[0], -1), 1, generator=generator).squeeze(1)
        obs, reward, done = trials.step(action)
        previous, hidden = feedback(action, reward, done, tasks.num_actions)[None], out.hidden
        if hasattr(trials, "playing") and not trials.playing.any():  # a family that says when it is over
            break
    video = torch.stack(frames).clamp(0, 255).byte()  # (T, C, H, W)
    video = video.repeat_interleave(scale, -2).repeat_interleave(scale, -1)
    if video.shape[1] == 1:
        video = video.expand(-1, 3, -1, -1)
    return video.permute(0, 2, 3, 1).cpu().numpy()


class TrialVideo(pl.Callback):
    """Every ``every_n_env_steps`` env steps, log one held-out trial (seed ``seed``) to W&B as ``eval/trial``.

    Needs the ``video`` extra (moviepy, imageio); without it the run starts with one warning and logs no
    video, as :class:`~leyden_rl.callbacks.EvaluationCallback` does.
    """

    def __init__(
        self, every_n_env_steps: int = 1_000_000, seed: int = 10_000, scale: int = 4, fps: int = 8
    ) -> None:
        self.every_n_env_steps, self.seed, self.scale, self.fps = every_n_env_steps, seed, scale, fps
        self._next = every_n_env_steps
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        check_watchable(pl_module.tasks)
        missing = missing_video_modules()
        if missing:
            rank_zero_warn(
                f"no trial videos: {' and '.join(missing)} not installed; install them with: pip install 'leyden-rl[video]'"
            )
            self._enabled = False
        self._next = (pl_module.env_steps // self.every_n_env_steps + 1) * self.every_n_env_steps

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.env_steps < self._next:
            return
        self._next += self.every_n_env_steps
        if self._enabled and trainer.is_global_zero:
            frames = record_trial(pl_module.policy, pl_module.tasks, self.seed, self.scale, pl_module.device)
            log_video(trainer, "eval/trial", frames, fps=self.fps)
