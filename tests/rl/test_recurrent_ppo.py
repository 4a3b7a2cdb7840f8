"""Recurrent PPO: the masked-velocity task, the memory's resets at episode starts and its carry across
rollouts, the update's sequence replay (ratio = 1 before the first step), whole-sequence minibatches,
and bad settings. Fit, resume and same-seed runs are in test_algorithms.py; ``leyden fit`` in test_examples.py."""

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.envs import make_env
from leyden_rl.recurrent_actor_critic import RecurrentActorCritic, sequence_segments
from leyden_rl.recurrent_ppo import RecurrentPPO
from tests.rl.conftest import started_without_trainer


def _model(**kw) -> RecurrentPPO:
    args = dict(
        num_envs=3, num_steps=48, batch_size=48, memory_size=8, hidden_sizes=(8,), total_env_steps=10**6
    )
    return RecurrentPPO(**{**args, **kw})


def test_no_velocity_cartpole_zeroes_the_velocities_and_keeps_the_positions():
    masked, full = make_env("CartPoleNoVel-v1"), make_env("CartPole-v1")
    obs, _ = masked.reset(seed=1)
    reference, _ = full.reset(seed=1)
    for _ in range(5):
        assert obs.shape == (4,) and obs[1] == 0 and obs[3] == 0
        np.testing.assert_array_equal(obs[[0, 2]], reference[[0, 2]])
        assert reference[1] != 0 or reference[3] != 0
        obs, *_ = masked.step(1)
        reference, *_ = full.step(1)


def test_sequence_segments_split_where_any_env_starts_an_episode():
    starts = torch.zeros(6, 2, dtype=torch.bool)
    starts[0, 0] = starts[2, 1] = starts[3, 0] = True
    assert sequence_segments(starts) == [(0, 2), (2, 3), (3, 6)]
    assert sequence_segments(torch.zeros(1, 2, dtype=torch.bool)) == [(0, 1)]


@pytest.mark.parametrize("cell,shared", [("lstm", False), ("gru", True)])
def test_sequence_forward_equals_stepping_with_resets(cell, shared):
    """One call over a sequence gives what stepping one observation at a time, zeroing at starts, gives."""
    model = _model(cell=cell, shared_memory=shared)
    policy: RecurrentActorCritic = model.policy
    torch.manual_seed(0)
    obs, memory = torch.randn(7, 3, 4), torch.randn(3, policy.memory_width)
    starts = torch.rand(7, 3) < 0.3
    out, value, last = policy(obs, memory, starts)
    assert not torch.allclose(out, policy(obs, torch.zeros_like(memory), starts)[0]), "the memory is read"
    m = memory
    for t in range(7):
        m = torch.where(starts[t, :, None], torch.zeros_like(m), m)
        step_out, step_value, m = policy(obs[t : t + 1], m, torch.zeros(1, 3, dtype=torch.bool))
        torch.testing.assert_close(step_out[0], out[t])
        torch.testing.assert_close(step_value[0], value[t])
    torch.testing.assert_close(m, last)


def test_memory_resets_at_episode_starts_and_carries_elsewhere_and_across_rollouts():
    model = started_without_trainer(_model())
    policy, trace = model.policy, model.memory_trace
    first_carry = None
    for rollout in range(2):
        model.collect_rollout()
        starts = model.episode_starts
        assert starts[1:].any(), "random CartPole episodes end inside a 48-step rollout"
        if rollout == 0:
            assert starts[0].all(), "the first observation of every env starts an episode"
            first_carry = model.memory.clone()
        else:
            torch.testing.assert_close(trace[0], first_carry)  # carried from the rollout before
            assert trace[0].abs().sum() > 0
        obs = model.rollout.obs
        no = torch.zeros(1, model.num_envs, dtype=torch.bool)
        zero = policy.initial_memory(model.num_envs)
        for t in range(model.rollout.num_steps):
            stored = policy(obs[t : t + 1], trace[t], starts[t : t + 1])
            fresh = policy(obs[t : t + 1], zero, no)
            carried = policy(obs[t : t + 1], trace[t], no)
            for i in range(model.num_envs):
                expected = fresh if starts[t, i] else carried
                torch.testing.assert_close(stored[0][0, i], expected[0][0, i])
                torch.testing.assert_close(stored[2][i], expected[2][i])  # the memory after the step
        torch.testing.assert_close(model.memory, trace[-1])


def test_replayed_sequences_give_the_rollouts_log_probs_and_values():
    """Before the first update, every minibatch's replay reproduces collection exactly: ratio = 1."""
    model = started_without_trainer(_model(num_envs=4, batch_size=96))
    model.collect_rollout()  # the second rollout starts from a carried, non-zero memory
    data = model.rollout_with_advantages(0.98, 0.8)
    assert data["episode_starts"][1:].any() and data["memory"].abs().sum() > 0
    seen = []
    for mb in model.minibatches(data):
        assert mb["obs"].shape[:2] == (48, 2), "whole sequences of 96 / 48 = 2 envs"
        log_prob, entropy, value = model.evaluate_actions(mb)
        torch.testing.assert_close(log_prob, mb["log_probs"], rtol=0, atol=1e-5)
        torch.testing.assert_close(value, mb["values"], rtol=0, atol=1e-5)
        assert (entropy > 0).all()
        seen.append(mb["obs"][0])
    observed = torch.cat(seen)
    assert observed.shape[0] == 4 and all(
        any(torch.equal(row, o) for o in observed) for row in data["obs"][0]
    ), "every env's sequence is in exactly one minibatch"


def test_act_needs_the_memory():
    model = _model()
    obs = torch.zeros(2, 4)
    with pytest.raises(LeydenConfigError, match="act_with_memory"):
        model.act(obs)
    memory = model.policy.initial_memory(2)
    action, memory = model.act_with_memory(obs, memory, torch.ones(2, dtype=torch.bool))
    assert action.shape == (2,) and memory.shape == (2, model.policy.memory_width)


def test_hyperparameters_hold_the_memory_options():
    model = _model(cell="gru", memory_size=5, shared_memory=True)
    assert (model.hparams.cell, model.hparams.memory_size, model.hparams.shared_memory) == ("gru", 5, True)
    assert model.policy.memory_width == 5 and len(model.policy.cells) == 1


def test_bad_settings_are_config_errors():
    with pytest.raises(LeydenConfigError, match="multiple of num_steps"):
        _model(batch_size=50)
    with pytest.raises(LeydenConfigError, match="cell"):
        _model(cell="transformer")


def test_orthogonal_init_can_be_left_to_pytorch_defaults():
    """rl-zoo's CartPoleNoVel-v1 settings use ``ortho_init=False``; the option gives PyTorch's defaults."""
    ortho, default = _model().policy, _model(orthogonal_init=False).policy
    assert all(torch.count_nonzero(b) == 0 for n, b in ortho.cells.named_parameters() if "bias" in n)
    assert all(torch.count_nonzero(b) > 0 for n, b in default.cells.named_parameters() if "bias" in n)
    assert ortho.actor_head[-1].weight.abs().max() <= 0.01 + 1e-6  # gain 0.01: a near-uniform first policy
    assert default.actor_head[-1].weight.abs().max() > 0.01
