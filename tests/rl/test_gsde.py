"""Generalized state-dependent exploration (gSDE) in the on-policy actor-critic: the noise is linear in the
actor's features with one matrix per env, π's log-prob is the matching Gaussian, matrices are redrawn on
schedule, and PPO, A2C and TRPO train with it."""

import gymnasium as gym
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.a2c import A2C
from leyden_rl.networks import ActorCritic
from leyden_rl.ppo import PPO
from leyden_rl.trpo import TRPO
from tests.rl.conftest import started_without_trainer

OBS = gym.spaces.Box(-1.0, 1.0, (3,))
ACT = gym.spaces.Box(-2.0, 2.0, (2,))


def sde_policy(**kwargs) -> ActorCritic:
    torch.manual_seed(0)
    return ActorCritic(OBS, ACT, (16, 8), "tanh", use_sde=True, **kwargs)


def test_noise_is_linear_in_the_features_with_one_matrix_per_env():
    policy = sde_policy(log_std_init=-1.0)
    obs = torch.rand(4, 3)
    policy.resample_exploration(4)
    first, log_prob, _ = policy.act(obs)
    again, _, _ = policy.act(obs)
    assert torch.equal(first, again)  # same matrices, same states: the same action (coherent exploration)
    mean, _, features = policy._heads(obs)
    expected = mean + torch.einsum("bf,bfa->ba", features, policy.exploration)
    torch.testing.assert_close(first, expected)
    policy.resample_exploration(4)
    assert not torch.equal(policy.act(obs)[0], first)
    assert policy.exploration.shape == (4, 8, 2) and "exploration" not in policy.state_dict()
    assert torch.equal(policy.act(obs, deterministic=True)[0], mean)


def test_log_prob_is_the_state_dependent_gaussian():
    policy = sde_policy(log_std_init=-0.5)
    assert policy.log_std.shape == (8, 2)  # σ per (feature, action)
    obs, actions = torch.rand(5, 3), torch.randn(5, 2)
    log_prob, entropy, _ = policy.evaluate(obs, actions)
    mean, _, features = policy._heads(obs)
    std = (features.pow(2) @ policy.log_std.exp().pow(2) + 1e-6).sqrt()
    normal = torch.distributions.Normal(mean, std)
    torch.testing.assert_close(log_prob, normal.log_prob(actions).sum(-1))
    torch.testing.assert_close(entropy, normal.entropy().sum(-1))
    assert std.std(0).gt(0).all()  # the spread depends on the state
    log_prob.sum().backward()
    assert policy.log_std.grad is not None and policy.log_std.grad.abs().sum() > 0


def test_options_and_bad_input():
    plain = ActorCritic(OBS, ACT, (16,), "tanh", log_std_init=-2.0, orthogonal_init=False)
    assert torch.equal(plain.log_std.detach(), torch.full((2,), -2.0))
    bound = 1 / 3**0.5  # nn.Linear's default init on 3 inputs instead of orthogonal
    assert plain.nets.weights[0].abs().max() <= bound
    with pytest.raises(LeydenConfigError, match="Discrete"):
        ActorCritic(OBS, gym.spaces.Discrete(3), (16,), "tanh", use_sde=True)
    with pytest.raises(LeydenConfigError, match="sde_sample_freq"):
        A2C("Pendulum-v1", num_envs=2, use_sde=True, sde_sample_freq=0)


@pytest.mark.parametrize(("freq", "draws"), [(-1, 1), (4, 2)])
def test_matrices_are_redrawn_at_the_rollout_start_and_every_freq_steps(monkeypatch, freq, draws):
    model = A2C("Pendulum-v1", num_envs=2, num_steps=8, hidden_sizes=(8,), use_sde=True, sde_sample_freq=freq)
    calls = []
    original = model.policy.resample_exploration
    monkeypatch.setattr(model.policy, "resample_exploration", lambda n: (calls.append(n), original(n)))
    started_without_trainer(model).collect_rollout()
    assert calls == [2] * draws


@pytest.mark.parametrize(
    "make",
    [
        lambda: PPO("Pendulum-v1", num_envs=2, num_steps=16, batch_size=16, update_epochs=2, hidden_sizes=(16,),
                    total_env_steps=96, use_sde=True, log_std_init=-2.0, orthogonal_init=False),
        lambda: A2C("Pendulum-v1", num_envs=2, num_steps=8, hidden_sizes=(16,), total_env_steps=96, use_sde=True,
                    sde_sample_freq=4, normalize_observations=True, normalize_rewards=True),
        lambda: TRPO("Pendulum-v1", num_envs=2, num_steps=16, batch_size=16, critic_epochs=2, cg_steps=4,
                     hidden_sizes=(16,), total_env_steps=96, use_sde=True),
    ],
    ids=["PPO", "A2C", "TRPO"],
)  # fmt: skip
def test_methods_train_with_gsde(make):
    model = make()
    before = model.policy.log_std.detach().clone()
    quiet_trainer(max_epochs=-1, enable_checkpointing=False).fit(model)
    after = model.policy.log_std.detach()
    assert after.shape == before.shape == (16, 1) and torch.isfinite(after).all()
    assert not torch.equal(after, before)  # σ is learned
    assert all(torch.isfinite(p).all() for p in model.policy.parameters())
