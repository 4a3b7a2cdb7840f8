"""The Python API as docs/python-api.md shows it: PPO on a user-defined gymnasium env, no CLI."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import leyden_rl
from leyden_core.plugins import import_object
from leyden_rl.plugin import plugin

DOC = Path(__file__).resolve().parents[2] / "docs" / "python-api.md"


def _python_block(containing: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(block for block in blocks if containing in block)


def test_public_classes_are_exported_lazily_and_documented():
    from leyden_rl import DQN, PPO, SAC, BehaviourCloning  # noqa: F401

    assert set(leyden_rl.__all__) <= set(dir(leyden_rl))
    for path in (*plugin.models, *plugin.datamodules):  # everything the CLI offers, from the top level
        assert getattr(leyden_rl, path.rpartition(".")[2]) is import_object(path)
    assert "PPO" in leyden_rl.__doc__ and "OnlineRLModule" in leyden_rl.__doc__
    with pytest.raises(AttributeError):
        leyden_rl.NoSuchAlgorithm  # noqa: B018


class _NoRenderMode(gym.Env):
    """A minimal env whose constructor takes no render_mode (gymnasium does not require one)."""

    def __init__(self):
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), -float(np.square(action).sum()), False, False, {}


def test_an_env_without_render_mode_works_with_ppo(tmp_path):
    from leyden_core.testing import quiet_trainer

    gym.register("leyden-test/NoRenderMode-v0", entry_point=_NoRenderMode, max_episode_steps=10)
    model = leyden_rl.PPO("leyden-test/NoRenderMode-v0", num_envs=2, num_steps=8, batch_size=16,
                          update_epochs=1, total_env_steps=32)  # fmt: skip
    quiet_trainer(max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False).fit(model)
    assert model.env_steps == 32


def test_the_documented_ppo_example_learns_the_custom_env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(_python_block("PPO("), str(DOC), "exec"), namespace)  # noqa: S102
    assert namespace["model"].env_steps >= 8_192
    assert namespace["steps"] == 7  # the greedy policy walks straight to the goal
