"""Particle reaching and the demonstration-conditioned policy: env checks, expert, shapes, masks, checkpoints."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.imitation.one_shot import (
    DemoConditionedPolicy,
    OneShotImitation,
    OneShotParticleDataModule,
    evaluate_success,
    evaluate_success_in_envs,
    sample_tasks,
)
from leyden_rl.imitation.particle_reaching import (
    ENV_ID,
    HORIZON,
    OBS_DIM,
    ParticleReachingEnv,
    expert_actions,
    sample_states,
    step_states,
)


def test_env_checker_passes_and_task_is_hidden():
    env = ParticleReachingEnv(num_landmarks=4)
    check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0, options={"target_colour": 3})
    assert obs.shape == (OBS_DIM,) and info["task"] == 3
    assert obs[4:].reshape(6, 9)[:, 0].sum() == 4  # four present landmark slots
    made = gym.make(f"leyden_rl.imitation.particle_reaching:{ENV_ID}", num_landmarks=2)
    assert made.observation_space.shape == (OBS_DIM,)
    with pytest.raises(LeydenConfigError, match="num_landmarks"):
        ParticleReachingEnv(num_landmarks=7)


@pytest.mark.parametrize("randomized", [False, True])
def test_scripted_expert_succeeds(randomized):
    ranges = ((0.7, 1.5), (0.1, 0.3)) if randomized else (None, None)
    states = sample_states(np.random.default_rng(0), 500, 6, None, *ranges)
    for _ in range(HORIZON):
        step_states(states, expert_actions(states))
    success = (states.distance_to_target() < 0.1).mean()
    assert success == 1.0 if not randomized else success > 0.95


def test_env_physics_attributes_and_randomization():
    env = ParticleReachingEnv(num_landmarks=2)
    env.mass = 3.0  # a generic wrapper may set the physics as attributes
    env.reset(seed=1)
    assert env.state.mass[0] == 3.0
    env = ParticleReachingEnv(num_landmarks=2, mass_range=(0.5, 2.0), damping_range=(0.1, 0.3))
    masses = {env.reset(seed=s)[1] and env.mass for s in range(5)}
    assert len(masses) == 5 and all(0.5 <= m <= 2.0 for m in masses)


def _batch(num=3, k=3, seed=0):
    return sample_tasks(np.random.default_rng(seed), num, k, demo_stride=5)


@pytest.mark.parametrize("conditioning", ["demo", "none", "oracle"])
def test_forward_backward_shapes(conditioning):
    b = _batch()
    policy = DemoConditionedPolicy(conditioning, width=16)
    out = policy(b["obs"], b["demo_obs"], b["demo_actions"], b["demo_mask"], b["target_colour"])
    assert out.shape == (3, HORIZON, 2) and torch.isfinite(out).all()
    (out - b["actions"]).pow(2).mean().backward()
    grads = [p.grad for p in policy.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_variable_length_demos_are_masked():
    torch.manual_seed(0)
    b = _batch(num=2)
    policy = DemoConditionedPolicy("demo", width=16)
    short = {k: v[:1] for k, v in b.items()}
    mask = short["demo_mask"].clone()
    mask[:, 7:] = False  # only the first 7 demo steps exist
    garbage = short["demo_obs"].clone()
    garbage[:, 7:] = 1e3  # whatever fills the padding must not matter
    args = (short["obs"], short["demo_obs"], short["demo_actions"])
    a = policy(*args, mask, short["target_colour"])
    b_ = policy(short["obs"], garbage, short["demo_actions"], mask, short["target_colour"])
    truncated = policy(short["obs"], short["demo_obs"][:, :7], short["demo_actions"][:, :7], mask[:, :7],
                       short["target_colour"])  # fmt: skip
    torch.testing.assert_close(a, b_)
    torch.testing.assert_close(a, truncated)  # padding + mask == the shorter demo itself
    assert not torch.allclose(a, policy(*args, short["demo_mask"], short["target_colour"]))


def test_train_validate_and_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    dm = OneShotParticleDataModule(num_train_tasks=64, num_val_tasks=16, landmarks=(2, 3), batch_size=16)
    model = OneShotImitation("demo", width=16)
    trainer = quiet_trainer(max_epochs=1, default_root_dir=tmp_path, enable_checkpointing=False)
    trainer.fit(model, dm)
    assert 0.0 <= trainer.callback_metrics["val/success"] <= 1.0
    trainer.save_checkpoint(tmp_path / "one_shot.ckpt")
    loaded = OneShotImitation.load_from_checkpoint(tmp_path / "one_shot.ckpt", weights_only=True)
    batch = _batch(num=2)
    torch.testing.assert_close(model(batch["obs"], batch), loaded(batch["obs"], batch))
    success = evaluate_success(loaded, 3, 8, seed=5)
    assert success.shape == (8,) and success.dtype == bool
    with pytest.raises(LeydenConfigError, match="conditioning"):
        OneShotImitation("telepathy")


def test_leyden_sim_physics_randomization_drives_the_particle_env():
    physics = pytest.importorskip("leyden_sim.physics")
    ranges = {
        "mass": physics.PhysicsRange(2.0, 3.0, mode="set"),
        "damping": physics.PhysicsRange(0.05, 0.1, mode="set"),
    }
    env = physics.PhysicsRandomization(ParticleReachingEnv(num_landmarks=3), ranges)
    _, info = env.reset(seed=0)
    assert 2.0 <= info["physics"]["mass"] <= 3.0 and 0.05 <= info["physics"]["damping"] <= 0.1
    assert env.unwrapped.state.mass[0] == info["physics"]["mass"]  # the episode's dynamics use the draw
    assert env.unwrapped.state.damping[0] == info["physics"]["damping"]

    def make():
        return physics.PhysicsRandomization(ParticleReachingEnv(num_landmarks=3), ranges)

    expert = evaluate_success_in_envs(None, make, 20, seed=0)
    assert expert.shape == (20,) and expert.mean() >= 0.9  # the expert copes with heavy particles
    model = OneShotImitation("demo", width=16)
    success = evaluate_success_in_envs(model, make, 6, seed=0)
    assert success.shape == (6,) and success.dtype == bool


@pytest.mark.parametrize("action", [(1.0, 1.0), (-1.0, 0.3), "random"])
def test_light_undamped_particle_stays_in_the_observation_space(action):
    env = ParticleReachingEnv(num_landmarks=3, horizon=300, mass_range=(1e-3, 1e-3), damping_range=(0.0, 0.0))
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    rng = np.random.default_rng(0)
    for _ in range(300):
        force = rng.uniform(-1, 1, 2) if action == "random" else np.asarray(action)
        obs, *_ = env.step(force.astype(np.float32))
        assert env.observation_space.contains(obs), obs[:4]
