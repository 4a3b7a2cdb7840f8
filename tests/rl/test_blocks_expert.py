"""The scripted block-stacking expert solves 1- and 2-stage tasks; its demonstrations go through the recorder."""

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("mujoco")

from leyden_rl.imitation.blocks import ENV_ID  # noqa: E402
from leyden_rl.imitation.blocks.data import expert_pairs, run_episodes  # noqa: E402
from leyden_rl.imitation.blocks.env import BlockStackingEnv  # noqa: E402
from leyden_rl.imitation.blocks.tasks import all_tasks  # noqa: E402
from leyden_rl.imitation.demonstrations import load_demonstrations, record_demonstrations  # noqa: E402
from leyden_rl.imitation.experts import make_expert  # noqa: E402


@pytest.mark.parametrize("stages", [1, 2])
def test_expert_solves_tasks_of_one_and_two_stages(stages):
    tasks = all_tasks(4, stages)[::5][:6]
    envs = [BlockStackingEnv(4, tasks=tasks) for _ in tasks]
    episodes = run_episodes(envs, tasks, seeds=range(100, 100 + len(tasks)))
    assert all(e.success for e in episodes), [(e.task, e.stages_done) for e in episodes]
    assert all(len(e.observations) == envs[0].steps_per_stage * stages + 20 for e in episodes)


@pytest.mark.parametrize("physics", [{"gripper_gain": 3.0}, {"block_mass": 0.2, "gripper_gain": 2.0}])
def test_expert_holds_its_grasp_off_nominal_physics(physics):
    """A stiffer gripper squeezes harder but closes no faster, so its fingers stop at the block's faces."""
    tasks = all_tasks(4, 1)[::3][:4]
    envs = [BlockStackingEnv(4, tasks=tasks, **physics) for _ in tasks]
    episodes = run_episodes(envs, tasks, seeds=range(200, 200 + len(tasks)))
    assert all(e.success for e in episodes), [(e.task, e.stages_done) for e in episodes]


def test_expert_pairs_play_in_wrapped_envs():
    wrapped = []

    def wrapper(env):
        wrapped.append(env)
        return gym.wrappers.RecordEpisodeStatistics(env)

    demos, targets = expert_pairs(["ab", "ba"], 3, num_pairs=2, seed=0, batch=2, wrapper=wrapper)
    assert len(wrapped) == 2 and [d.task for d in demos] == [t.task for t in targets]
    assert all(d.success for d in demos)


class _DivergingTargets(gym.Wrapper):
    """Every second episode (the target of a pair) of every second env diverges at its third step."""

    def __init__(self, env, diverge: bool):
        super().__init__(env)
        self.diverge, self.episodes = diverge, 0

    def reset(self, **kwargs):
        self.episodes += 1
        return self.env.reset(**kwargs)

    def step(self, action):
        world = self.env.unwrapped
        if self.diverge and self.episodes % 2 == 0 and world.t == 2:
            world.data.qvel[:3] = np.inf
        return self.env.step(action)


def test_expert_pairs_drop_diverged_target_episodes():
    envs = []

    def wrapper(env):
        envs.append(_DivergingTargets(env, diverge=len(envs) % 2 == 1))
        return envs[-1]

    demos, targets = expert_pairs(["ab", "ba"], 3, num_pairs=4, seed=0, batch=4, wrapper=wrapper)
    assert len(demos) == len(targets) == 4
    assert not any(t.diverged for t in targets) and all(d.success for d in demos)
    assert envs[1].episodes >= 2 * 2  # the diverging envs' pairs were replaced by a second batch


def test_noisy_execution_keeps_clean_labels():
    env = BlockStackingEnv(3)
    (episode,) = run_episodes([env], ["ab"], [0], action_noise=0.1, rng=np.random.default_rng(0))
    assert np.isin(episode.labels[:, 3], (-1.0, 1.0)).all() and np.abs(episode.labels).max() <= 1.0
    assert episode.success  # the reactive expert recovers from its own noise
    assert episode.stages[0].tolist() == [1, 0] and episode.stages[-1].tolist() == [-1, -1]  # "ab": b on a


def test_recorder_round_trip(tmp_path):
    kwargs = {"num_blocks": 3, "stage_counts": [1]}
    path = record_demonstrations(
        make_expert("blocks"), f"leyden_rl.imitation.blocks:{ENV_ID}", 3, tmp_path / "blocks.npz", 7, kwargs
    )
    demos = load_demonstrations(path)
    tasks = BlockStackingEnv(**kwargs).tasks
    assert demos["env_kwargs"] == kwargs and demos["seed"] == 7
    assert demos["observations"].shape[1:] == (26,) and demos["actions"].shape[1:] == (4,)
    assert len(demos["episode_starts"]) == 3 and set(demos["episode_tasks"]) <= set(range(len(tasks)))
    ends = demos["episode_ends"] - 1
    assert (demos["rewards"][ends] == 1.0).all()  # every recorded episode ends with its stage in place
