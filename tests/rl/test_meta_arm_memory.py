"""RL² with one memory per arm (:class:`ArmMemoryPolicy`): only the pulled arm's memory moves, relabelling
the arms relabels the policy, the update's replay reproduces play, training round-trips a checkpoint, it
learns, and it refuses what is not a bandit."""

from functools import partial

import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.arm_memory import ArmMemoryPolicy
from leyden_rl.meta.auxiliary import TaskInference
from leyden_rl.meta.evaluate import PolicyAgent, run_trials
from leyden_rl.meta.policy_base import TrialSpec, previous_step
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits, RandomTabularMDPs

ARMS, SIZE = 4, 8


def _history(actions: list[int], rewards: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """One trial's observations (T, 1, 1) and previous steps (T, 1, A + 2): each pull's result, one step late."""
    obs = torch.ones(len(actions) + 1, 1, 1)
    dones = torch.ones(len(actions) + 1, 1, dtype=torch.bool)
    previous = previous_step(
        torch.tensor([*actions, 0])[:, None], torch.tensor([*rewards, 0.0])[:, None], dones, ARMS
    )
    return obs, previous


def _policy(estimate_size: int = 0) -> ArmMemoryPolicy:
    torch.manual_seed(0)
    policy = ArmMemoryPolicy(TrialSpec((1,), ARMS, ARMS, estimate_size), SIZE)
    torch.nn.init.normal_(policy.policy_head[-1].weight)  # a trained-looking readout, not the uniform start
    return policy


def test_only_the_pulled_arms_memory_moves_and_the_clock_counts_pulls():
    policy = _policy()
    _, previous = _history([2, 2, 0], [1.0, 0.0, 1.0])
    arms, clocks = policy._memories(previous, policy.initial_state(1))  # (T, 1, arms, size), (T, 1, size)
    assert (arms[0] == 0).all()  # nothing pulled before the first step
    assert (arms[1:, :, [1, 3]] == 0).all()  # never pulled: never moved
    assert not torch.equal(arms[1, 0, 2], arms[2, 0, 2])  # arm 2 moves on its second pull
    assert torch.equal(arms[2, 0, 2], arms[3, 0, 2])  # and keeps its memory while arm 0 is pulled
    assert torch.equal(arms[2, 0, 0], torch.zeros(SIZE)) and arms[3, 0, 0].abs().sum() > 0
    assert len({tuple(c.tolist()) for c in clocks[:, 0]}) == 4  # the clock moves every step


def test_relabelling_the_arms_relabels_the_policy():
    """Shared weights: the logits of a history with arms swapped are the original logits, swapped."""
    policy = _policy()
    actions, rewards = [0, 1, 1, 3, 0], [1.0, 0.0, 1.0, 1.0, 0.0]
    relabel = torch.tensor([2, 0, 3, 1])  # arm a is called relabel[a]
    logits = policy(*_history(actions, rewards), policy.initial_state(1)).logits
    swapped = policy(*_history([int(relabel[a]) for a in actions], rewards), policy.initial_state(1)).logits
    torch.testing.assert_close(swapped[..., relabel], logits)


def _model(options: dict, **kw) -> RL2:
    policy = partial(
        ArmMemoryPolicy, memory_size=SIZE, value_reads_task=options.get("value_reads_task", False)
    )
    losses = [TaskInference(1.0)] if options.get("task_inference") else []
    tasks = BernoulliBandits(ARMS, kw.pop("num_pulls", 6))
    return RL2(tasks, policy, losses, **{"num_trials": 8, "num_minibatches": 2, **kw})


@pytest.mark.parametrize("options", [{}, {"task_inference": True, "value_reads_task": True}])
def test_replay_from_zero_state_reproduces_play(options):
    model = _model(options)
    data = model.play_trials()
    log_prob, entropy, value, *auxiliary = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    assert (entropy > 0).all()
    assert len(auxiliary) == bool(options)  # the task-inference loss, with its coefficient


def test_task_head_estimates_each_arms_mean_from_its_own_memory():
    policy = _policy(estimate_size=ARMS)
    estimate = policy(*_history([1, 1], [1.0, 1.0]), policy.initial_state(1)).estimate
    assert estimate.shape == (3, 1, ARMS)
    untouched = estimate[-1, 0, [0, 2, 3]]
    # the unpulled arms' memories are equal, and so are their estimates
    assert torch.allclose(untouched, untouched[0])
    assert not torch.isclose(estimate[-1, 0, 1], untouched[0])


def test_training_step_checkpoint_round_trip_and_play(tmp_path):
    model = _model({"task_inference": True, "value_reads_task": True}, num_pulls=5, num_trials=16,
                   total_env_steps=2 * 16 * 5)  # fmt: skip
    before = [p.detach().clone() for p in model.policy.parameters()]
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert model.iterations == 2
    assert any(not torch.equal(b, a) for b, a in zip(before, model.policy.parameters()))
    trainer.save_checkpoint(tmp_path / "rl2.ckpt")
    loaded = RL2.load_from_checkpoint(tmp_path / "rl2.ckpt", map_location="cpu", weights_only=True)
    assert isinstance(loaded.policy, ArmMemoryPolicy)
    r1 = run_trials(PolicyAgent(model.policy, seed=1), model.tasks, 8, 0)
    r2 = run_trials(PolicyAgent(loaded.policy, seed=1), loaded.tasks, 8, 0)
    torch.testing.assert_close(r1, r2)


def test_learns_to_beat_random_play_on_ten_armed_bandits():
    """A short training (120 k env steps, ~10 s) must already find the good arms: random play earns n/2."""
    torch.set_num_threads(1)
    tasks = BernoulliBandits(num_arms=10, num_pulls=20)
    model = RL2(tasks, partial(ArmMemoryPolicy, memory_size=16), num_trials=100, num_minibatches=1,
                learning_rate=0.01, update_epochs=4, total_env_steps=120_000, gamma=1.0, expected_rewards=True)  # fmt: skip
    quiet_trainer(max_epochs=-1, enable_checkpointing=False, logger=False).fit(model)
    returns = run_trials(PolicyAgent(model.policy), tasks, 500, 1)
    assert returns.mean() > 13.0, f"mean trial return {returns.mean():.2f}; random play earns 10"


def test_mdps_and_estimates_that_are_not_per_arm_are_refused():
    with pytest.raises(LeydenConfigError, match="bandits"):
        RL2(RandomTabularMDPs(), ArmMemoryPolicy)
    with pytest.raises(LeydenConfigError, match="one mean per arm"):
        ArmMemoryPolicy(TrialSpec((1,), ARMS, ARMS, estimate_size=2 * ARMS))
