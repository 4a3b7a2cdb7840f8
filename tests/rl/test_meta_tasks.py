"""RL² task distributions: their statistics, the observation encoding, gym vs batched env."""

import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.gym_envs import BernoulliBanditEnv, TabularMDPEnv, TrialEnv
from leyden_rl.meta.task_distribution import stream_generator
from leyden_rl.meta.tasks import BatchedTrialEnv, BernoulliBandits, RandomTabularMDPs, encode_obs


def test_bandit_means_are_uniform():
    means = BernoulliBandits(10, 10).sample(20_000, torch.Generator().manual_seed(0))["means"]
    assert means.shape == (20_000, 10)
    assert abs(means.mean().item() - 0.5) < 0.01
    assert abs(means.var().item() - 1 / 12) < 0.002
    assert means.min() >= 0 and means.max() <= 1


def test_mdp_priors():
    task = RandomTabularMDPs().sample(4000, torch.Generator().manual_seed(0))
    r, p = task["reward_mean"], task["transitions"]
    assert r.shape == (4000, 10, 5) and p.shape == (4000, 10, 5, 10)
    assert abs(r.mean().item() - 1.0) < 0.01 and abs(r.std().item() - 1.0) < 0.01
    torch.testing.assert_close(p.sum(-1), torch.ones(4000, 10, 5))
    # flat Dirichlet over 10 states: each coordinate ~ Beta(1, 9), mean 0.1, variance 9/1100
    assert abs(p.mean().item() - 0.1) < 1e-3
    assert abs(p[..., 3].var().item() - 9 / 1100) < 4e-4


def test_rewards_have_the_right_noise():
    env = BatchedTrialEnv(RandomTabularMDPs(num_episodes=1), 20_000, seed=1)
    env.reset()
    mean = env.task["reward_mean"][torch.arange(20_000), 0, 2]
    _, reward, _ = env.step(torch.full((20_000,), 2))
    noise = reward - mean
    assert abs(noise.mean().item()) < 0.03 and abs(noise.std().item() - 1.0) < 0.03
    torch.testing.assert_close(env.expected_reward, mean)  # the mean of the reward just drawn


def test_obs_encoding():
    obs = encode_obs(
        torch.tensor([2, 0]), torch.tensor([1, -1]), torch.tensor([0.5, 0.0]), torch.tensor([1.0, 0.0]), 3, 4
    )
    expected = torch.tensor([[0, 0, 1, 0, 1, 0, 0, 0.5, 1], [1, 0, 0, 0, 0, 0, 0, 0, 0]])
    torch.testing.assert_close(obs, expected.float())


def test_batched_env_episode_structure():
    dist = RandomTabularMDPs(num_episodes=3)
    env = BatchedTrialEnv(dist, 7, seed=0)
    obs = env.reset()
    assert obs.shape == (7, 10) and (obs[:, 0] == 1).all() and (obs.sum(-1) == 1).all()  # one_hot(state 0)
    assert env.trial_length == dist.trial_length == 30
    dones = []
    for _ in range(30):
        obs, reward, done = env.step(torch.randint(0, 5, (7,)))
        dones.append(done[0].item())
        assert done.all() == done.any()  # all trials in lock step
        if done[0]:  # an episode just ended: back at the start state
            assert (obs[:, 0] == 1).all()
    assert dones == [(t + 1) % 10 == 0 for t in range(30)]
    parameters = env.task_parameters()
    assert parameters["reward_means"].shape == (7, 50) and parameters["transitions"].shape == (7, 500)
    assert dist.task_sizes == {"reward_means": 50, "transitions": 500}
    with pytest.raises(RuntimeError):
        env.step(torch.zeros(7))


def _deterministic_mdp() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    nxt = torch.randint(0, 10, (10, 5), generator=gen)
    return {
        "reward_mean": torch.randn(1, 10, 5, generator=gen),
        "transitions": torch.nn.functional.one_hot(nxt, 10).float()[None],
    }


@pytest.mark.parametrize("family", ["bandit", "mdp"])
def test_gym_and_batched_env_agree_on_a_fixed_task(family):
    if family == "bandit":  # arms with means 0 or 1 pay deterministically
        dist, task = BernoulliBandits(4, 12), {"means": torch.tensor([[0.0, 1.0, 1.0, 0.0]])}
    else:  # one-hot transitions and no reward noise: deterministic
        dist, task = RandomTabularMDPs(num_episodes=3, reward_noise_std=0.0), _deterministic_mdp()
    gym_env, batched = TrialEnv(dist), BatchedTrialEnv(dist, 1, seed=5)
    obs_g, _ = gym_env.reset(seed=0, options={"task": task})
    obs_b = batched.reset(task)
    s = dist.num_states
    np.testing.assert_allclose(obs_g[:s], obs_b[0].numpy())  # the gym env's observation also holds a, r, d
    actions = np.random.default_rng(0).integers(0, dist.num_actions, gym_env.trial_length)
    for t, a in enumerate(actions):
        obs_g, r_g, term, trunc, info = gym_env.step(a)
        obs_b, r_b, done = batched.step(torch.tensor([a]))
        np.testing.assert_allclose(obs_g[:s], obs_b[0].numpy(), atol=1e-6)
        assert abs(r_g - r_b.item()) < 1e-6 and info["episode_done"] == done.item() and not trunc
        assert term == (t + 1 == batched.trial_length)


def test_gym_envs_pass_the_checker():
    check_env(BernoulliBanditEnv(5, 10), skip_render_check=True)
    check_env(TabularMDPEnv(2), skip_render_check=True)


def test_bad_task_sizes_raise_config_errors():
    with pytest.raises(LeydenConfigError):
        BernoulliBandits(num_arms=1)
    with pytest.raises(LeydenConfigError):
        RandomTabularMDPs(num_episodes=0)


def test_env_and_agent_random_streams_differ():
    # same seed, different streams: an agent's noise must not replay the env's task draws
    a = torch.rand(5, generator=stream_generator(0, "env"))
    b = torch.rand(5, generator=stream_generator(0, "agent"))
    assert not torch.allclose(a, b)
    torch.testing.assert_close(a, torch.rand(5, generator=stream_generator(0, "env")))
