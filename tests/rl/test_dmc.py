"""dm_control tasks as pixel gymnasium envs (skipped without the dmc extra)."""

import os

import numpy as np
import pytest

os.environ.setdefault("MUJOCO_GL", "egl")
pytest.importorskip("dm_control")

from leyden_core.errors import LeydenConfigError  # noqa: E402
from leyden_rl.envs import make_env  # noqa: E402


def test_cartpole_swingup_pixels_action_repeat_and_seeding():
    env = make_env("dmc/cartpole-swingup", env_kwargs={"size": 32})
    assert env.get_wrapper_attr("action_repeat") == 8
    assert env.observation_space.shape == (9, 32, 32) and env.action_space.shape == (1,)
    first, _ = env.reset(seed=3)
    again, _ = env.reset(seed=3)
    assert np.array_equal(first, again), "a seed fixes the initial state"
    steps, truncated = 0, False
    while not truncated:
        obs, reward, terminated, truncated, _ = env.step(np.zeros(1, np.float32))
        steps += 1
        assert not terminated and 0.0 <= reward <= 8.0 and obs.dtype == np.uint8
    assert steps == 1000 // 8  # an episode is 1000 simulator steps
    assert env.render().shape == (32, 32, 3)


def test_unknown_task_is_a_config_error():
    with pytest.raises(LeydenConfigError, match="no task"):
        from leyden_rl.dmc import make_dmc_env

        make_dmc_env("cartpole", "juggle")


def test_state_observations_same_task_no_frames():
    """observation='state': the flattened proprioceptive state, same action repeat and rewards as pixels."""
    from gymnasium.utils.env_checker import check_env

    env = make_env("dmc/cartpole-swingup", env_kwargs={"observation": "state", "size": 32})
    assert env.observation_space.shape == (5,) and env.observation_space.dtype == np.float32
    pixels = make_env("dmc/cartpole-swingup", env_kwargs={"size": 32})
    (s, _), _ = env.reset(seed=1), pixels.reset(seed=1)
    for _ in range(5):
        s, r_state, *_ = env.step(np.full(1, 0.5, np.float32))
        _, r_pixels, *_ = pixels.step(np.full(1, 0.5, np.float32))
        assert r_state == r_pixels and s.shape == (5,) and np.isfinite(s).all()
    assert env.render().shape == (32, 32, 3), "frames are still available for videos"
    check_env(env.unwrapped, skip_render_check=True)
    with pytest.raises(LeydenConfigError, match="observation"):
        make_env("dmc/cartpole-swingup", env_kwargs={"observation": "rgb"})


def test_render_fps_is_declared_in_simulated_time():
    """Video recorders read ``render_fps``: cartpole steps 0.01 s per control step, 8 per env step."""
    env = make_env("dmc/cartpole-swingup", env_kwargs={"size": 32})
    assert env.metadata["render_fps"] == round(1 / (0.01 * 8))
    from leyden_rl.dmc import DMCEnv

    assert "render_fps" not in DMCEnv.metadata, "per-instance: it depends on the domain's action repeat"
