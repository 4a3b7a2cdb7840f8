"""DQN's target refresh: the refreshes due since the last iteration fold into one Polyak average."""

import torch

from leyden_rl.dqn import DQN


def _model(tau: float) -> DQN:
    model = DQN(env_id="CartPole-v1", hidden_sizes=(8,), buffer_size=64, target_update_interval=10, tau=tau)
    torch.nn.init.ones_(model.q.advantage.weight)
    torch.nn.init.zeros_(model.q_target.advantage.weight)
    return model


def test_polyak_refreshes_fold_into_one_average():
    model = _model(tau=0.5)
    model.env_steps = 35  # three refreshes due (10, 20, 30); the fourth at 40
    model.refresh_target()
    torch.testing.assert_close(
        model.q_target.advantage.weight, torch.full_like(model.q.advantage.weight, 0.875)
    )
    assert model.last_target_update == 30
    model.env_steps = 39
    model.refresh_target()  # none due yet
    torch.testing.assert_close(
        model.q_target.advantage.weight, torch.full_like(model.q.advantage.weight, 0.875)
    )


def test_hard_copy_with_tau_one():
    model = _model(tau=1.0)
    model.env_steps = 10
    model.refresh_target()
    assert torch.equal(model.q_target.advantage.weight, model.q.advantage.weight)
