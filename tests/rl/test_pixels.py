"""Pixel wrapper: a valid gymnasium env (env checker), action repeat sums rewards, renders are stacked."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from leyden_core.errors import LeydenConfigError
from leyden_rl.envs import make_env
from leyden_rl.pixels import RenderObservation, make_pixel_env


def test_pixel_env_passes_the_gymnasium_checker():
    env = make_pixel_env("Pendulum-v1", size=24, frame_stack=3, action_repeat=2)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (9, 24, 24) and obs.dtype == np.uint8
    assert np.array_equal(obs[:3], obs[6:]), "the first stack repeats the first frame"
    obs2, *_ = env.step(env.action_space.sample())
    assert np.array_equal(obs2[:6], obs[3:]) and obs2[6:].std() > 0


def test_action_repeat_sums_rewards_and_counts_env_steps():
    base, rep = (
        gym.make("Pendulum-v1"),
        make_env("pixels/Pendulum-v1", env_kwargs={"size": 16, "action_repeat": 3}),
    )
    base.reset(seed=1)
    rep.reset(seed=1)
    action = np.array([0.5], np.float32)
    expected = sum(base.step(action)[1] for _ in range(3))
    assert rep.step(action)[1] == pytest.approx(expected)
    assert rep.get_wrapper_attr("action_repeat") == 3


def test_env_without_rgb_render_is_a_config_error():
    with pytest.raises(LeydenConfigError, match="rgb_array"):
        RenderObservation(gym.make("Pendulum-v1"), 16)
