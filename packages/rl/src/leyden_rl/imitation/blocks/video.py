"""Frames of a demonstration beside the policy's imitation of it, for GIFs and W&B videos."""

from __future__ import annotations

import numpy as np

from leyden_rl.imitation.blocks.data import Episode
from leyden_rl.imitation.blocks.env import BlockStackingEnv
from leyden_rl.imitation.blocks.expert import current_stage, expert_action
from leyden_rl.imitation.blocks.one_shot import OneShotBlockStacking, learner


def _play(env: BlockStackingEnv, task: str, seed: int, act, every: int) -> tuple[list[np.ndarray], Episode]:
    obs, info = env.reset(seed=seed, options={"task": task})
    frames, rows, done = [env.render()], [], False
    while not done:
        action = expert_action(env) if act is None else act(obs[None], np.zeros(1, dtype=np.int64))[0]
        rows.append((obs, action, current_stage(env)))
        obs, _, _, done, info = env.step(action)
        if env.t % every == 0 or done:
            frames.append(env.render())
    episode = Episode(task, np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows]),
                      np.array([r[2] for r in rows]), info["stages_done"], info["success"])  # fmt: skip
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
