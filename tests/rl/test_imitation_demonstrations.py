"""Demonstrations: recorder/loader round trip, episode boundaries, split by episode, clear errors."""

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.envs import make_env
from leyden_rl.imitation.demonstrations import (
    DemonstrationDataModule,
    episode_returns,
    load_demonstrations,
    record_demonstrations,
    rollout_episodes,
)
from leyden_rl.imitation.experts import CheckpointExpert, cartpole_expert, make_expert
from leyden_rl.imitation.particle_reaching import ENV_ID

PARTICLE = f"leyden_rl.imitation.particle_reaching:{ENV_ID}"


def test_round_trip_and_episode_boundaries(tmp_path):
    def shaky(obs, env):  # short, varied episodes
        return int(obs[2] > 0.05)

    path = record_demonstrations(shaky, "CartPole-v1", 4, tmp_path / "d.npz", seed=3)
    data = load_demonstrations(path)
    env = make_env("CartPole-v1")
    direct = rollout_episodes(env, shaky, 4, seed=3)
    for key in ("observations", "actions", "rewards", "episode_starts", "episode_ends"):
        np.testing.assert_array_equal(data[key], direct[key])
    assert data["env_id"] == "CartPole-v1" and data["seed"] == 3 and data["actions"].dtype == np.int64
    starts, ends = data["episode_starts"], data["episode_ends"]
    assert starts[0] == 0 and (starts[1:] == ends[:-1]).all() and ends[-1] == len(data["observations"])
    # each episode starts at the observation that reset(seed + e) gives
    for e, start in enumerate(starts):
        np.testing.assert_array_equal(data["observations"][start], env.reset(seed=3 + e)[0])
    np.testing.assert_allclose(episode_returns(data), ends - starts)  # CartPole: +1 per step


def test_task_ids_and_continuous_actions(tmp_path):
    path = record_demonstrations(
        make_expert("particle_reaching"), PARTICLE, 3, tmp_path / "p.npz", env_kwargs={"num_landmarks": 4}
    )
    data = load_demonstrations(path)
    assert data["actions"].dtype == np.float32 and data["actions"].shape == (180, 2)
    assert (
        data["env_kwargs"] == {"num_landmarks": 4}
        and ((data["episode_tasks"] >= 0) & (data["episode_tasks"] < 6)).all()
    )


def test_datamodule_splits_by_episode(tmp_path):
    path = record_demonstrations(cartpole_expert, "CartPole-v1", 5, tmp_path / "d.npz")
    dm = DemonstrationDataModule(str(path), val_fraction=0.4, seed=1)
    assert len(dm.val_episodes) == 2 and not set(dm.val_episodes) & set(dm.train_episodes)
    assert len(dm.train) + len(dm.val) == 2500
    one = DemonstrationDataModule(str(path), num_episodes=1)
    assert len(one.train) == 500 and len(one.val) == 0
    with pytest.raises(LeydenConfigError, match="num_episodes"):
        DemonstrationDataModule(str(path), num_episodes=6)


def test_missing_file_and_bad_shapes_are_config_errors(tmp_path):
    with pytest.raises(LeydenConfigError, match="does not exist") as err:
        DemonstrationDataModule(str(tmp_path / "nope.npz"))
    assert "record_demonstrations" in str(err.value)
    path = record_demonstrations(cartpole_expert, "CartPole-v1", 2, tmp_path / "d.npz")
    data = dict(np.load(path))
    np.savez(tmp_path / "short.npz", **{**data, "actions": data["actions"][:-1]})
    with pytest.raises(LeydenConfigError, match="one row per step"):
        load_demonstrations(tmp_path / "short.npz")
    np.savez(tmp_path / "gap.npz", **{**data, "episode_ends": data["episode_ends"] - 1})
    with pytest.raises(LeydenConfigError, match="tile"):
        load_demonstrations(tmp_path / "gap.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(LeydenConfigError, match="missing"):
        load_demonstrations(tmp_path / "other.npz")
    with pytest.raises(LeydenConfigError, match="unknown expert"):
        make_expert("oracle-of-delphi")


def test_expert_from_a_leyden_checkpoint(tmp_path):
    from leyden_rl.ppo import PPO

    ppo = PPO(num_envs=2, num_steps=16, batch_size=16, update_epochs=1, hidden_sizes=(8,), total_env_steps=32)
    trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(ppo)
    trainer.save_checkpoint(tmp_path / "ppo.ckpt")
    expert = CheckpointExpert(str(tmp_path / "ppo.ckpt"), "PPO")
    obs = np.zeros(4, dtype=np.float32)
    assert expert(obs, None) == int(ppo.act(torch.zeros(1, 4)).item())
    path = record_demonstrations(expert, "CartPole-v1", 2, tmp_path / "ppo_demos.npz")
    assert len(load_demonstrations(path)["episode_starts"]) == 2
    with pytest.raises(LeydenConfigError, match="does not exist"):
        CheckpointExpert(str(tmp_path / "missing.ckpt"))
