"""TD3's delayed policy updates and target smoothing bounds; DDPG as TD3's special case."""

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.testing import quiet_trainer
from leyden_rl.td3 import DDPG, TD3

TINY = dict(env_id="Pendulum-v1", num_envs=1, learning_starts=4, train_freq=1, gradient_steps=1, batch_size=4,
            hidden_sizes=(8,))  # fmt: skip


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def _fit_recording(model, tmp_path):
    seen = []

    class Spy(pl.Callback):
        def on_train_batch_end(self, trainer, m, *args):
            seen.append((m.updates, _flat(m.actor), _flat(m.critic), _flat(m.actor_target)))

    quiet_trainer(
        max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False, callbacks=[Spy()]
    ).fit(model)
    return seen


def test_td3_updates_the_actor_and_targets_every_policy_delay_critic_updates(tmp_path):
    seen = _fit_recording(TD3(total_env_steps=12, seed=0, policy_delay=2, **TINY), tmp_path)
    assert [u for u, *_ in seen] == [0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    for (_, a0, c0, t0), (u1, a1, c1, t1) in zip(seen[3:], seen[4:]):
        assert not torch.equal(c0, c1), "the critics learn at every update"
        policy_step = u1 % 2 == 0
        assert torch.equal(a0, a1) != policy_step, f"update {u1}: actor moves only on policy steps"
        assert torch.equal(t0, t1) != policy_step, f"update {u1}: targets move only on policy steps"


def test_ddpg_is_td3_with_one_critic_no_smoothing_and_no_delay(tmp_path):
    model = DDPG(total_env_steps=8, seed=0, **TINY)
    assert len(model.critic(torch.zeros(2, 3), torch.zeros(2, 1))) == 1
    assert model.config.policy_delay == 1 and model.config.target_policy_noise == 0.0
    assert "policy_delay" not in model.hparams, "a checkpoint re-creates DDPG from DDPG's own arguments"
    seen = _fit_recording(model, tmp_path)
    for (_, a0, *_), (_, a1, *_) in zip(seen[3:], seen[4:]):
        assert not torch.equal(a0, a1), "DDPG's actor moves at every update"


@pytest.mark.parametrize("cls", [TD3, DDPG])
def test_the_actor_ascends_the_critic_updated_on_the_same_batch(cls, tmp_path):
    """The papers' order: critic step first, then the actor's gradient through that updated critic."""
    model = cls(total_env_steps=10, seed=0, **({"policy_delay": 1} if cls is TD3 else {}), **TINY)
    critic_seen_by_actor = []

    def record(module, args):
        if len(args) == 3 and args[2] == 1:  # Q_1 only: the actor's loss
            critic_seen_by_actor.append(_flat(module))

    model.critic.register_forward_pre_hook(record)
    seen = _fit_recording(model, tmp_path)
    assert len(critic_seen_by_actor) == seen[-1][0] > 0
    assert torch.equal(critic_seen_by_actor[-1], seen[-1][2]), "the actor saw the critic after its step"


def test_smoothed_and_exploration_actions_stay_in_bounds():
    model = TD3(**TINY)
    actions = torch.full((1000, 1), 1.9)
    smoothed = model.noisy(actions, std=0.2, clip=0.5)
    assert smoothed.abs().max() <= 2.0
    assert (smoothed - actions).abs().max() <= 0.5 * 2.0 + 1e-6, "noise clipped at c times the half-range"
    explored = model.explore(torch.randn(1000, 3))
    assert explored.abs().max() <= 2.0 and explored.std() > 0


@pytest.mark.slow  # a minute each: 5,000 MuJoCo steps, 4,000 updates
@pytest.mark.parametrize("cls, seed", [(TD3, 0), (DDPG, 1)])
def test_inverted_pendulum_is_balanced_where_the_actor_used_to_saturate(cls, seed, tmp_path):
    """Seeds where μ(s) went to tanh saturation on InvertedPendulum-v5 (every episode 3 steps long,
    return 2) within the first updates: TD3 seed 0 with PPO's orthogonal critic initialisation, DDPG
    seed 1 with critics that saw actions in the env's units (±3) instead of [-1, 1]."""
    model = cls(env_id="InvertedPendulum-v5", total_env_steps=5_000, learning_starts=1_000, seed=seed)
    first_layer = model.critic.nets.weights[0]  # (critics, in, out)
    assert first_layer.abs().max() <= 1 / first_layer.shape[1] ** 0.5  # nn.Linear's U(±1/√fan_in)
    quiet_trainer(max_epochs=-1, default_root_dir=tmp_path, enable_checkpointing=False).fit(model)
    last_returns = [r for _, r, _ in model.episode_log[-10:]]
    assert sum(last_returns) / len(last_returns) > 20.0
    assert torch.equal(model.unit(model.actor.bias + model.actor.scale), torch.ones_like(model.actor.scale))
