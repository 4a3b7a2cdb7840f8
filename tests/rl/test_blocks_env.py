"""The MuJoCo block world: gymnasium API, layouts, a grasp that holds, a placed block that stays, physics knobs."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

pytest.importorskip("mujoco")

from leyden_core.errors import LeydenConfigError  # noqa: E402
from leyden_rl.imitation.blocks.env import MAX_SPEED, MIN_SEPARATION, BlockStackingEnv  # noqa: E402
from leyden_rl.imitation.blocks.expert import _holding, expert_action  # noqa: E402
from leyden_rl.imitation.blocks.tasks import BLOCK_HALF  # noqa: E402


def test_env_checker_passes_and_make_by_id():
    env = BlockStackingEnv(num_blocks=3)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0, options={"task": "ba"})
    assert obs.shape == (8 + 6 * 3,) and info["task_name"] == "ba" and info["num_stages"] == 1
    assert info["task"] == env.tasks.index("ba") and not info["success"]
    made = gym.make("leyden_rl.imitation.blocks:leyden/BlockStacking-v0", num_blocks=5, stage_counts=[2])
    assert made.observation_space.shape == (38,)
    assert made.unwrapped.tasks and all(len(t.replace(" ", "")) in (3, 4) for t in made.unwrapped.tasks)


@pytest.mark.parametrize(
    "kwargs",
    [{"num_blocks": 9}, {"num_blocks": 1}, {"obs_type": "rgb"}, {"tasks": ["ae"]}, {"block_mass": 0.0}],
)
def test_bad_arguments_are_config_errors(kwargs):
    with pytest.raises(LeydenConfigError):
        BlockStackingEnv(**kwargs)


def test_layouts_are_random_and_never_overlap():
    env = BlockStackingEnv(num_blocks=6)
    layouts = []
    for seed in range(20):
        env.reset(seed=seed)
        xy = env.block_positions[:, :2]
        gaps = np.linalg.norm(xy[:, None] - xy[None], axis=-1) + np.eye(6)
        assert gaps.min() >= MIN_SEPARATION
        layouts.append(xy)
    assert np.std(np.stack(layouts), axis=0).min() > 0.05
    for _ in range(10):  # at rest, the blocks stay on the table where they were put
        env.step(np.zeros(4, np.float32))
    np.testing.assert_allclose(env.block_positions[:, 2], BLOCK_HALF, atol=2e-3)
    np.testing.assert_allclose(env.block_positions[:, :2], layouts[-1], atol=2e-3)


def _run_expert_until(env, condition, limit=200):
    for _ in range(limit):
        if condition():
            return True
        env.step(expert_action(env))
    return False


def test_grasped_block_lifts_and_stays_in_the_hand():
    env = BlockStackingEnv(num_blocks=3)
    env.reset(seed=3, options={"task": "ab"})
    held = lambda: _holding(env.hand_position, env.block_positions[1], env.finger_opening)  # noqa: E731
    assert _run_expert_until(env, held)
    for _ in range(5):  # lift 15 cm, then let the hand catch up with its target
        env.step(np.array([0.0, 0.0, 1.0, 1.0], np.float32))
    for _ in range(3):
        env.step(np.array([0.0, 0.0, 0.0, 1.0], np.float32))
    start = env.block_positions[1].copy()
    assert start[2] > BLOCK_HALF + 0.1
    for _ in range(20):  # hold it still for a second, then carry it sideways
        env.step(np.array([0.0, 0.0, 0.0, 1.0], np.float32))
    np.testing.assert_allclose(env.block_positions[1], start, atol=3e-3)
    for _ in range(5):
        env.step(np.array([1.0, 0.0, 0.0, 1.0], np.float32))
    assert env.block_positions[1][0] > start[0] + 0.1
    assert np.linalg.norm(env.block_positions[1] - env.hand_position) < 0.01


def test_placed_block_stays_on_its_base():
    env = BlockStackingEnv(num_blocks=3)
    env.reset(seed=5, options={"task": "ab"})
    assert _run_expert_until(env, lambda: env.stages_done().all() and env.hand_position[2] > 0.12)
    for _ in range(20):  # the gripper is gone: the block rests on its base
        env.step(np.zeros(4, np.float32))
    assert env.stages_done().all()
    np.testing.assert_allclose(env.block_positions[1, :2], env.block_positions[0, :2], atol=0.015)


def test_physics_parameters_reach_the_model():
    env = BlockStackingEnv(num_blocks=3)
    env.block_mass, env.block_friction, env.gripper_gain = 0.2, 0.6, 1.5
    env.reset(seed=0)
    assert np.allclose(env.model.body_mass[env._block_bodies], 0.2)
    assert np.allclose(env.model.geom_friction[env._block_geoms, 0], 0.6)
    assert np.allclose(env.model.actuator_gainprm[3:5, 0], 450.0)
    assert np.allclose(env.model.actuator_biasprm[3:5, 1:3], [-450.0, -12.0])  # damping scales too
    built = BlockStackingEnv(num_blocks=3, block_mass=0.2, block_friction=0.6, gripper_gain=1.5)
    built.reset(seed=0)
    assert np.allclose(built.model.actuator_gainprm[3:5, 0], 450.0)
    assert np.allclose(built.model.body_mass[built._block_bodies], 0.2)
    physics = pytest.importorskip("leyden_sim.physics")
    wrapped = physics.PhysicsRandomization(
        BlockStackingEnv(num_blocks=3), {"block_mass": physics.PhysicsRange(0.5, 2.0)}
    )
    masses = set()
    for seed in range(3):
        wrapped.reset(seed=seed)
        masses.add(round(float(wrapped.unwrapped.model.body_mass[wrapped.unwrapped._block_bodies][0]), 6))
    assert len(masses) == 3 and all(0.05 <= m <= 0.2 for m in masses)


def test_pixel_observations_and_rgb_render():
    try:
        env = BlockStackingEnv(num_blocks=3, obs_type="pixels", image_size=32, render_mode="rgb_array")
        obs, _ = env.reset(seed=0)
    except Exception as err:  # no OpenGL (set MUJOCO_GL=egl or osmesa on a headless machine)
        pytest.skip(f"MuJoCo cannot render here: {err}")
    assert obs.shape == (32, 32, 3) and obs.dtype == np.uint8 and obs.std() > 0
    assert env.observation_space.contains(obs)
    frame = env.render()
    assert frame.shape == (480, 640, 3) and frame.std() > 0
    env.close()


@pytest.mark.parametrize("blow_up", ["flung_block", "mujoco_warning"])
def test_a_diverged_simulation_ends_the_episode_as_a_failure(blow_up):
    env = BlockStackingEnv(num_blocks=3)
    env.reset(seed=0, options={"task": "ab"})
    *_, truncated, info = env.step(np.zeros(4, np.float32))
    assert not truncated and not info["diverged"]
    # a block flung faster than any real motion here, or a state MuJoCo rejects (and resets)
    env.data.qvel[env._block_qvel[0]] = 3 * MAX_SPEED if blow_up == "flung_block" else np.inf
    *_, truncated, info = env.step(np.zeros(4, np.float32))
    assert truncated and info["diverged"] and not info["success"]
    env.reset(seed=0)  # the next episode starts clean
    assert not env.step(np.zeros(4, np.float32))[-1]["diverged"]
