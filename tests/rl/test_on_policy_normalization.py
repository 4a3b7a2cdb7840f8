"""The on-policy methods' optional observation and reward normalization (Stable-Baselines3's
``VecNormalize``): running statistics, what the policy sees and learns from, acting, the checkpoint."""

import torch

from leyden_core.testing import quiet_trainer
from leyden_rl.on_policy import RunningMeanStd
from leyden_rl.ppo import PPO
from leyden_rl.recurrent_ppo import RecurrentPPO
from tests.rl.conftest import started_without_trainer


def test_running_statistics_merged_batch_by_batch_match_the_whole_data():
    torch.manual_seed(0)
    data = torch.randn(300, 3) * torch.tensor([0.1, 2.0, 5.0]) + torch.tensor([1.0, -3.0, 0.0])
    stats = RunningMeanStd((3,))
    for batch in data.split(7):
        stats.update(batch)
    torch.testing.assert_close(stats.mean, data.mean(0), atol=1e-3, rtol=1e-3)
    torch.testing.assert_close(stats.var, data.var(0, unbiased=False), atol=1e-3, rtol=1e-3)
    assert abs(float(stats.count) - 300) < 1e-3
    standardised = stats(data)
    torch.testing.assert_close(standardised.mean(0), torch.zeros(3), atol=1e-3, rtol=0)
    assert stats(torch.full((1, 3), 1e6)).max() == 10.0  # clipped as VecNormalize


def test_policy_sees_standardised_observations_and_learns_from_scaled_rewards():
    model = started_without_trainer(
        PPO(num_envs=4, num_steps=64, batch_size=64, normalize_observations=True, normalize_rewards=True)
    )
    first_obs = model.obs.clone()
    model.collect_rollout()
    ro = model.rollout
    stats = model.obs_normalizer
    assert float(stats.count) > 4 * 64 - 1  # every observation the policy acted on
    # The first step's stored observation is the raw one standardised with the statistics of that moment,
    # so it differs from the raw observation; later ones have about zero mean and unit spread.
    assert not torch.allclose(ro.obs[0], first_obs)
    assert ro.obs[1:].flatten(0, 1).std(0).min() > 0.3 and ro.obs[1:].abs().max() <= 10.0
    # CartPole pays 1 per step; the policy learns from 1 / std of the discounted return instead.
    scale = 1.0 / torch.sqrt(model.return_normalizer.var + 1e-8)
    assert float(model.return_normalizer.var) != 1.0
    assert torch.allclose(ro.rewards[-1], scale.expand(4))


def test_acting_reads_the_observation_through_the_statistics():
    model = started_without_trainer(PPO(num_envs=2, num_steps=32, batch_size=32, normalize_observations=True))
    model.collect_rollout()
    obs = torch.tensor([[0.5, 0.1, -0.05, 0.2]])
    expected = model.policy.act(model.obs_normalizer(obs), deterministic=True)[0]
    assert torch.equal(model.act(obs), expected)
    assert not torch.allclose(model.obs_normalizer(obs), obs)


def test_statistics_are_part_of_the_checkpoint_and_episode_returns_stay_the_envs_own(tmp_path):
    model = RecurrentPPO(
        num_envs=2, num_steps=16, batch_size=32, memory_size=8, hidden_sizes=(8,), total_env_steps=640,
        normalize_observations=True, normalize_rewards=True,
    )  # fmt: skip
    trainer = quiet_trainer(max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False)
    trainer.fit(model)
    returns = [r for _, r, _ in model.episode_log]
    assert returns and all(float(r).is_integer() and r >= 1 for r in returns)  # CartPole: 1 per step
    path = tmp_path / "model.ckpt"
    trainer.save_checkpoint(path)
    state = torch.load(path, weights_only=True)["state_dict"]
    torch.testing.assert_close(state["obs_normalizer.mean"], model.obs_normalizer.mean)
    assert float(state["return_normalizer.count"]) > 600
    assert model.hparams.normalize_observations and model.hparams.normalize_rewards
