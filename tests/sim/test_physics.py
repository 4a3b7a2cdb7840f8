"""Physics randomization changes the physics, reports it in ``info``, and passes env_checker."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from leyden_core.errors import LeydenConfigError
from leyden_sim.physics import PhysicsRandomization, PhysicsRange


def _next_state(env, state, action):
    env.unwrapped.state = np.array(state, dtype=np.float64)
    return np.array(env.step(action)[0])


def test_cartpole_recomputes_derived_quantities_and_dynamics():
    ranges = {
        "length": PhysicsRange(2.0, 3.0),
        "masspole": PhysicsRange(2.0, 4.0, "loguniform"),
        "force_mag": PhysicsRange(-2.0, -1.0, mode="add"),
    }
    env = PhysicsRandomization(gym.make("CartPole-v1"), ranges)
    nominal = gym.make("CartPole-v1")
    _, info = env.reset(seed=0)
    nominal.reset(seed=0)
    base = env.unwrapped
    assert 2 * 0.5 <= info["physics"]["length"] <= 3 * 0.5 == pytest.approx(1.5)
    assert 2 * 0.1 <= info["physics"]["masspole"] <= 4 * 0.1
    assert 8.0 <= info["physics"]["force_mag"] <= 9.0
    assert base.total_mass == pytest.approx(base.masspole + base.masscart)
    assert base.polemass_length == pytest.approx(base.masspole * base.length)
    state = [0.0, 0.1, 0.05, 0.0]
    assert not np.allclose(_next_state(env, state, 1), _next_state(nominal, state, 1))


def test_reset_seed_reproduces_physics_and_new_episodes_resample():
    env = PhysicsRandomization(gym.make("CartPole-v1"), {"gravity": PhysicsRange(0.5, 2.0)})
    first = env.reset(seed=5)[1]["physics"]
    assert env.reset(seed=5)[1]["physics"] == first
    assert env.reset()[1]["physics"] != first


@pytest.mark.parametrize(
    "env_id, ranges, attribute",
    [
        (
            "Pendulum-v1",
            {"g": PhysicsRange(2.0, 2.0), "m": PhysicsRange(0.5, 0.5), "l": PhysicsRange(1.5, 1.5)},
            "g",
        ),
        (
            "Acrobot-v1",
            {"link_mass_1": PhysicsRange(3.0, 3.0), "link_length_2": PhysicsRange(0.5, 0.5)},
            "LINK_MASS_1",
        ),
    ],
)
def test_pendulum_and_acrobot(env_id, ranges, attribute):
    env = PhysicsRandomization(gym.make(env_id), ranges)
    nominal = getattr(gym.make(env_id).unwrapped, attribute)
    _, info = env.reset(seed=0)
    name = attribute.lower()
    assert info["physics"][name] == pytest.approx(getattr(env.unwrapped, attribute))
    assert getattr(env.unwrapped, attribute) == pytest.approx(nominal * ranges[name].low)
    state = np.array(env.unwrapped.state)
    reference = gym.make(env_id)
    reference.reset(seed=0)
    reference.unwrapped.state = state.copy()
    action = env.action_space.sample() if env_id == "Pendulum-v1" else 0
    assert not np.allclose(env.step(action)[0], reference.step(action)[0])


@pytest.mark.parametrize(
    "env_id, name", [("CartPole-v1", "length"), ("Pendulum-v1", "m"), ("Acrobot-v1", "link_moi")]
)
def test_env_checker_accepts_wrapped_envs(env_id, name):
    check_env(PhysicsRandomization(gym.make(env_id), {name: PhysicsRange(0.5, 2.0)}), skip_render_check=True)


def test_mujoco_model_arrays():
    pytest.importorskip("mujoco")
    env = PhysicsRandomization(
        gym.make("InvertedPendulum-v5"),
        {"body_mass": PhysicsRange(2.0, 2.0), "dof_damping": PhysicsRange(0.5, 0.5, mode="add")},
    )
    nominal = np.array(env.unwrapped.model.body_mass)
    _, info = env.reset(seed=0)
    np.testing.assert_allclose(env.unwrapped.model.body_mass, 2 * nominal)
    np.testing.assert_allclose(info["physics"]["body_mass"], 2 * nominal)
    env.reset()
    np.testing.assert_allclose(
        env.unwrapped.model.body_mass, 2 * nominal
    )  # scaled from nominal, not compounded


def test_bad_parameters_raise():
    with pytest.raises(LeydenConfigError):
        PhysicsRandomization(gym.make("CartPole-v1"), {"mass": PhysicsRange(1, 2)})
    with pytest.raises(LeydenConfigError):
        PhysicsRange(0.0, 1.0, "loguniform")
    with pytest.raises(LeydenConfigError):
        PhysicsRandomization(gym.make("MountainCar-v0"), {"gravity": PhysicsRange(1, 2)})


class _Drifter(gym.Env):
    """A stand-in env declaring the generic protocol: its step reads ``mass`` and ``damping``."""

    physics_parameters = ("mass", "damping")
    observation_space = gym.spaces.Box(-np.inf, np.inf, (1,), np.float64)
    action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self) -> None:
        self.mass, self.damping, self.velocity = 1.0, 0.2, 0.0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.velocity = 0.0
        return np.zeros(1), {}

    def step(self, action):
        self.velocity = (1 - self.damping) * self.velocity + float(action[0]) / self.mass
        return np.array([self.velocity]), 0.0, False, False, {}


def test_generic_physics_parameters_protocol():
    ranges = {"mass": PhysicsRange(2.0, 4.0), "damping": PhysicsRange(0.5, 0.5, mode="set")}
    env = PhysicsRandomization(_Drifter(), ranges)
    _, info = env.reset(seed=0)
    assert 2.0 <= info["physics"]["mass"] == env.unwrapped.mass <= 4.0
    assert env.unwrapped.damping == info["physics"]["damping"] == 0.5
    assert env.step(np.ones(1))[0][0] == pytest.approx(1.0 / info["physics"]["mass"])
    assert env.reset()[1]["physics"]["mass"] != info["physics"]["mass"]  # scaled from nominal 1.0 again
    assert 2.0 <= env.unwrapped.mass <= 4.0
    with pytest.raises(LeydenConfigError, match="unknown"):
        PhysicsRandomization(_Drifter(), {"gravity": PhysicsRange(1.0, 2.0)})
