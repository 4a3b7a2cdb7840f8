"""DeepMind Control Suite tasks from pixels as gymnasium envs (``pip install 'leyden-rl[dmc]'``).

``gym.make("dmc/cartpole-swingup")`` is the CURL / SAC-AE / DrQ setting: the task's state is
hidden, the observation is a stack of 3 renders of 100×100 (camera 0; 2 for quadruped) as uint8
``(9, 100, 100)``, and each action is repeated ``action_repeat`` times (8 cartpole, 2 finger and
walker, 4 otherwise) with rewards summed, so one ``step`` is ``action_repeat`` simulator steps.
Episodes last 1000 simulator steps and end by truncation (the suite's time limit; its tasks have
no terminal states). Rendering is headless through EGL (``MUJOCO_GL=egl`` unless already set).

``env_kwargs={"observation": "state"}`` gives the task's proprioceptive state instead (the suite's
observation dict flattened to float32, no frame stack, no rendering per step): the "State SAC"
reference of the pixel-RL papers, with the same action repeat and rewards.
"""

from __future__ import annotations

import os
from typing import Any

import gymnasium as gym
import numpy as np

from leyden_core.errors import LeydenConfigError
from leyden_rl.pixels import StackFrames

ACTION_REPEAT = {"cartpole": 8, "finger": 2, "walker": 2}  # every other domain: 4
TASKS = (
    "cartpole-swingup", "finger-spin", "reacher-easy", "cheetah-run", "walker-walk", "ball_in_cup-catch",
    "cartpole-balance", "walker-stand", "walker-run", "quadruped-walk", "hopper-stand",
)  # fmt: skip


class DMCEnv(gym.Env):
    """One dm_control task, observed as single (3, size, size) renders after each repeated action."""

    metadata = {"render_modes": ["rgb_array"]}

    def __init__(
        self, domain: str, task: str, size: int = 100, action_repeat: int | None = None,
        camera_id: int | None = None, render_mode: str | None = "rgb_array", observation: str = "pixels",
    ) -> None:  # fmt: skip
        os.environ.setdefault("MUJOCO_GL", "egl")
        from dm_control import suite

        if (domain, task) not in suite.ALL_TASKS:
            raise LeydenConfigError(
                f"dm_control has no task {domain}-{task}",
                f"use one of {', '.join(f'dmc/{d}-{t}' for d, t in suite.ALL_TASKS[:8])}, ...",
            )
        if observation not in ("pixels", "state"):
            raise LeydenConfigError(f"unknown observation {observation!r}", "use 'pixels' or 'state'")
        self._env = suite.load(domain, task, task_kwargs={"random": 0})
        self.observation = observation
        self.action_repeat = action_repeat or ACTION_REPEAT.get(domain, 4)
        self.size, self.render_mode = size, render_mode
        # Frames per second of simulated time: one frame per env step of action_repeat control steps.
        fps = 1.0 / (self._env.control_timestep() * self.action_repeat)
        self.metadata = {**type(self).metadata, "render_fps": max(1, round(fps))}
        self.camera_id = (2 if domain == "quadruped" else 0) if camera_id is None else camera_id
        spec = self._env.action_spec()
        self.action_space = gym.spaces.Box(spec.minimum.astype(np.float32), spec.maximum.astype(np.float32))
        if observation == "state":
            dim = sum(int(np.prod(v.shape)) for v in self._env.observation_spec().values())
            self.observation_space = gym.spaces.Box(-np.inf, np.inf, (dim,), np.float32)
        else:
            self.observation_space = gym.spaces.Box(0, 255, (3, size, size), np.uint8)
        self._frame: np.ndarray | None = None
        self._state: np.ndarray | None = None

    def _observe(self) -> np.ndarray:
        if self.observation == "state":
            self._frame = None  # rendered only if render() is called
            return self._state
        self._frame = self._env.physics.render(self.size, self.size, camera_id=self.camera_id)
        return np.ascontiguousarray(self._frame.transpose(2, 0, 1))

    def _keep_state(self, ts) -> None:
        if self.observation == "state":
            self._state = np.concatenate([np.ravel(v) for v in ts.observation.values()]).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self._env.task.random.seed(seed)  # the task's RandomState draws the initial state
        self._keep_state(self._env.reset())
        return self._observe(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        reward = 0.0
        for _ in range(self.action_repeat):
            ts = self._env.step(action)
            reward += ts.reward or 0.0
            if ts.last():
                break
        self._keep_state(ts)
        terminated = ts.last() and ts.discount == 0.0
        truncated = ts.last() and not terminated
        return self._observe(), reward, terminated, truncated, {}

    def render(self) -> np.ndarray:
        """The latest (size, size, 3) frame: what the agent saw, reused for evaluation videos."""
        if self._frame is None:
            self._frame = self._env.physics.render(self.size, self.size, camera_id=self.camera_id)
        return self._frame

    def close(self) -> None:
        self._env.close()


def make_dmc_env(domain: str, task: str, frame_stack: int = 3, **kwargs: Any) -> gym.Env:
    env = DMCEnv(domain, task, **kwargs)
    return env if env.observation == "state" else StackFrames(env, frame_stack)


for _name in TASKS:
    _domain, _task = _name.split("-")
    if f"dmc/{_name}" not in gym.registry:
        gym.register(f"dmc/{_name}", entry_point=make_dmc_env, kwargs={"domain": _domain, "task": _task})
