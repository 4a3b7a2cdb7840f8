"""RL² on a user's own task family: gymnasium envs made per task (:class:`GymTasks`), defined here.

The family: two doors, one of which pays 1 (the task says which); every episode is one choice. Random
play earns half a door per episode; an agent that remembers what the first choice paid earns nearly one.
"""

from functools import partial
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from leyden_core.cli import main
from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.gru import CNNGRUPolicy
from leyden_rl.meta.gym_tasks import GymTasks, frozen_lake, frozen_lake_map
from leyden_rl.meta.policy_base import TrialSpec, previous_step
from leyden_rl.meta.rl2 import RL2

EPISODES = 6


class Doors(gym.Env):
    """One step per episode: choose a door; the task's door pays 1. With ``pixels``, a grey 3×16×16 frame."""

    def __init__(self, good_door: int, pixels: bool = False) -> None:
        self.good_door, self.pixels = good_door, pixels
        self.action_space = gym.spaces.Discrete(2)
        shape, dtype = ((3, 16, 16), np.uint8) if pixels else ((1,), np.float32)
        self.observation_space = gym.spaces.Box(0, 255 if pixels else 1, shape, dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.full(
            self.observation_space.shape, 128 if self.pixels else 0, self.observation_space.dtype
        ), {}

    def step(self, action):
        obs, _ = self.reset()
        return obs, float(action == self.good_door), True, False, {}


def make_doors(task: int) -> gym.Env:
    return Doors(task)


def make_pixel_doors(task: int) -> gym.Env:
    return Doors(task, pixels=True)


def sample_door(rng: np.random.Generator) -> int:
    return int(rng.integers(2))


def door_features(task: int) -> list[float]:
    return [float(task)]


def _doors(**kw) -> GymTasks:
    return GymTasks(make_doors, sample_door, **{"num_episodes": EPISODES, "max_episode_steps": 1, **kw})


def test_trials_step_in_lock_step_and_keep_their_task_across_episodes():
    family = _doors(task_features=door_features)
    assert family.obs_shape == (1,) and family.num_actions == 2 and family.trial_length == EPISODES
    trials = family.batch(num_trials=64, seed=0)
    obs = trials.reset()
    assert obs.shape == (64, 1)
    good = trials.task_parameters()["task"][:, 0].long()
    assert 0 < good.sum() < 64  # each trial draws its own task
    for _ in range(EPISODES):
        obs, reward, done = trials.step(good)  # always the good door: paid every episode, same task
        assert done.all() and (reward == 1).all()
    with pytest.raises(RuntimeError, match="trial is over"):
        trials.step(good)
    other = family.batch(64, seed=1)
    other.reset()
    assert not torch.equal(other.task_parameters()["task"][:, 0].long(), good)  # another seed, other tasks


def test_episodes_restart_after_max_episode_steps():
    family = GymTasks(frozen_lake, frozen_lake_map, num_episodes=2, max_episode_steps=3)
    trials = family.batch(num_trials=4, seed=0)
    obs = trials.reset()
    assert obs.shape == (4, 16) and (obs.sum(-1) == 1).all()  # Discrete observations arrive one-hot
    dones = [trials.step(torch.zeros(4, dtype=torch.long))[2] for _ in range(family.trial_length)]
    assert dones[2].all() and dones[5].all()  # each episode is cut after three steps at the latest


def test_a_family_without_discrete_actions_is_refused():
    with pytest.raises(LeydenConfigError, match="Discrete"):
        GymTasks(lambda task: gym.make("Pendulum-v1"), sample_door)


def test_leyden_fit_learns_a_task_family_defined_here(tmp_path):
    """From the CLI, by import path: after 20 k env steps the agent finds the good door and stays."""
    torch.set_num_threads(1)
    module = __name__
    main([
        "fit", "--model", "RL2", "--model.tasks", "GymTasks",
        f"--model.tasks.make_env={module}.make_doors", f"--model.tasks.sample_task={module}.sample_door",
        f"--model.tasks.num_episodes={EPISODES}", "--model.tasks.max_episode_steps=1",
        "--model.policy", "GRUPolicy", "--model.policy.hidden_size=32",
        "--model.num_trials=64", "--model.total_env_steps=20000", "--model.learning_rate=0.01",
        f"--trainer.default_root_dir={tmp_path}", "--trainer.max_epochs=-1",
        "--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.accelerator=cpu",
    ])  # fmt: skip
    model = RL2.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    model.trials = model.tasks.batch(1000, seed=123)
    returns = model.play_trials()["rewards"].sum(0)
    # random play earns 3 per trial; remembering the first door's pay, 0.5 + 5 = 5.5
    assert returns.mean() > 4.5, f"mean trial return {returns.mean():.2f}"


def test_cnn_gru_policy_trains_from_pixels_with_replay_matching_play(tmp_path):
    from leyden_core.testing import quiet_trainer

    family = GymTasks(make_pixel_doors, sample_door, num_episodes=3, max_episode_steps=1)
    model = RL2(family, partial(CNNGRUPolicy, hidden_size=16, features=8, filters=4),
                num_trials=8, num_minibatches=2, total_env_steps=2 * 8 * 3)  # fmt: skip
    data = model.play_trials()
    assert data["obs"].shape == (3, 8, 3, 16, 16)
    log_prob, _, value = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    before = [p.detach().clone() for p in model.policy.encoder.parameters()]
    quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path).fit(model)
    assert any(not torch.equal(b, a) for b, a in zip(before, model.policy.encoder.parameters()))
    with pytest.raises(LeydenConfigError, match="square"):
        CNNGRUPolicy(TrialSpec((1,), 2))
    previous = previous_step(data["actions"], data["rewards"], data["dones"], 2)
    assert model.policy(data["obs"], previous, model.policy.initial_state(8)).logits.shape == (3, 8, 2)


def test_example_config_names_a_gym_family(tmp_path):
    config = Path(__file__).parents[2] / "examples" / "rl" / "rl2_gym_frozen_lake.yaml"
    main([
        "fit", "--config", str(config), f"--trainer.default_root_dir={tmp_path}", "--trainer.logger=false",
        "--trainer.enable_progress_bar=false", "--trainer.accelerator=cpu",
        "--model.init_args.num_trials=4", "--model.init_args.total_env_steps=480",
    ])  # fmt: skip
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_rl2"]["env_steps"] == 480
    assert (
        saved["hyper_parameters"]["tasks"]["init_args"]["make_env"] == "leyden_rl.meta.gym_tasks.frozen_lake"
    )
