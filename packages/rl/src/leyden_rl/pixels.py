"""Pixel observations for cheap gymnasium envs: the agent sees rendered frames, not the state.

``pixels/<id>`` (e.g. ``pixels/Pendulum-v1``) is ``<id>`` rendered as ``rgb_array``, resized to
``size``×``size``, with ``action_repeat`` and a stack of ``frame_stack`` frames as one channels-first
uint8 array ``(frame_stack·3, size, size)`` — the observation layout of :mod:`leyden_rl.dmc`, so
CURL and pixel SAC run on either, and tests run on a classic-control env in seconds.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F

from leyden_core.errors import LeydenConfigError

PIXEL_IDS = ("Pendulum-v1", "MountainCarContinuous-v0", "CartPole-v1")


class ActionRepeat(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Repeat each action ``action_repeat`` times, summing rewards; stop early when the episode ends."""

    def __init__(self, env: gym.Env, action_repeat: int) -> None:
        if action_repeat < 1:
            raise LeydenConfigError(
                f"action_repeat must be ≥ 1, got {action_repeat}", "use e.g. 1, 2, 4 or 8"
            )
        gym.utils.RecordConstructorArgs.__init__(self, action_repeat=action_repeat)
        super().__init__(env)
        self.action_repeat = action_repeat

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        total = 0.0
        for _ in range(self.action_repeat):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


def resize_frame(frame: np.ndarray, size: int) -> np.ndarray:
    """(H, W, 3) uint8 → (3, size, size) uint8, area-averaged (no aliasing when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1)[None].float()
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="area")
    return x[0].round().clamp(0, 255).to(torch.uint8).numpy()


class RenderObservation(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Replace the observation by the env's ``rgb_array`` render, resized to (3, size, size)."""

    def __init__(self, env: gym.Env, size: int) -> None:
        if env.render_mode != "rgb_array":
            raise LeydenConfigError(
                f"pixel observations need an env made with render_mode='rgb_array', got {env.render_mode!r}",
                "create it with gym.make(env_id, render_mode='rgb_array')",
            )
        gym.utils.RecordConstructorArgs.__init__(self, size=size)
        super().__init__(env)
        self.size = size
        self.observation_space = gym.spaces.Box(0, 255, (3, size, size), np.uint8)

    def observation(self, observation: Any) -> np.ndarray:
        return resize_frame(self.env.render(), self.size)


class StackFrames(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """The last ``frame_stack`` (C, H, W) frames as one (frame_stack·C, H, W) array, oldest first.

    An episode's first stack repeats its first frame (like gymnasium's ``FrameStackObservation``
    with ``padding_type="reset"``), which is what :class:`~leyden_rl.frame_replay.FrameReplay` rebuilds.
    """

    def __init__(self, env: gym.Env, frame_stack: int) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, frame_stack=frame_stack)
        super().__init__(env)
        c, h, w = env.observation_space.shape
        self.frame_stack = frame_stack
        self.observation_space = gym.spaces.Box(0, 255, (frame_stack * c, h, w), np.uint8)
        self._frames: deque[np.ndarray] = deque(maxlen=frame_stack)

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self._frames.extend([obs] * self.frame_stack)
        return np.concatenate(self._frames), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames.append(obs)
        return np.concatenate(self._frames), reward, terminated, truncated, info


def make_pixel_env(
    env_id: str, size: int = 64, frame_stack: int = 3, action_repeat: int = 1, render_mode: str | None = None
) -> gym.Env:
    """``env_id`` seen through its renders (``render_mode`` is accepted for ``gym.make``; always rgb_array)."""
    env = gym.make(env_id, render_mode="rgb_array")
    return StackFrames(RenderObservation(ActionRepeat(env, action_repeat), size), frame_stack)


for _id in PIXEL_IDS:
    if f"pixels/{_id}" not in gym.registry:
        gym.register(f"pixels/{_id}", entry_point=make_pixel_env, kwargs={"env_id": _id})
