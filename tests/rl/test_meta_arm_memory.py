"""RL² with one memory per arm (``arm_memories``): only the pulled arm's memory moves, relabelling the
arms relabels the policy, the update's replay reproduces play, training round-trips a checkpoint,
and the options that belong to the generic GRU are refused."""

import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.arm_memory import ArmMemoryPolicy
from leyden_rl.meta.evaluate import run_trials
from leyden_rl.meta.rl2 import RL2, RL2Agent, make_task_distribution
from leyden_rl.meta.tasks import encode_obs

ARMS, SIZE = 4, 8


def _history(actions: list[int], rewards: list[float], num_arms: int = ARMS) -> torch.Tensor:
    """A one-trial observation sequence (T, 1, D): the first step before any pull, then each pull's result."""
    state = torch.zeros(1, dtype=torch.long)
    steps = [encode_obs(state, torch.tensor([-1]), torch.zeros(1), torch.zeros(1), 1, num_arms)]
    for action, reward in zip(actions, rewards):
        steps.append(
            encode_obs(state, torch.tensor([action]), torch.tensor([reward]), torch.ones(1), 1, num_arms)
        )
    return torch.stack(steps)


def _policy(**kw) -> ArmMemoryPolicy:
    torch.manual_seed(0)
    policy = ArmMemoryPolicy(ARMS, SIZE, obs_size=ARMS + 3, **kw)
    torch.nn.init.normal_(policy.policy_head[-1].weight)  # a trained-looking readout, not the uniform start
    return policy


def test_only_the_pulled_arms_memory_moves_and_the_clock_counts_pulls():
    policy = _policy()
    obs = _history([2, 2, 0], [1.0, 0.0, 1.0])
    arms, clocks = policy._memories(obs, policy.initial_state(1))  # (T, 1, arms, size), (T, 1, size)
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
    logits, _, _ = policy(_history(actions, rewards), policy.initial_state(1))
    swapped, _, _ = policy(_history([int(relabel[a]) for a in actions], rewards), policy.initial_state(1))
    torch.testing.assert_close(swapped[..., relabel], logits)


@pytest.mark.parametrize("options", [{}, {"task_inference_coef": 1.0, "value_reads_task": True}])
def test_replay_from_zero_state_reproduces_collection(options):
    model = RL2(task="bandit", num_arms=ARMS, num_pulls=6, num_trials=8, num_minibatches=2, hidden_size=SIZE,
                arm_memories=True, **options)  # fmt: skip
    data = model.collect_trials()
    log_prob, entropy, value, *auxiliary = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    assert (entropy > 0).all()
    assert len(auxiliary) == bool(options)  # the task-inference loss, with its coefficient


def test_task_head_estimates_each_arms_mean_from_its_own_memory():
    policy = _policy(task_size=ARMS)
    obs = _history([1, 1], [1.0, 1.0])
    _, _, estimate, _ = policy.outputs(obs, policy.initial_state(1))
    assert estimate.shape == (3, 1, ARMS)
    untouched = estimate[-1, 0, [0, 2, 3]]
    # the unpulled arms' memories are equal, and so are their estimates
    assert torch.allclose(untouched, untouched[0])
    assert not torch.isclose(estimate[-1, 0, 1], untouched[0])


def test_training_step_checkpoint_round_trip_and_play(tmp_path):
    model = RL2(task="bandit", num_arms=ARMS, num_pulls=5, num_trials=16, num_minibatches=2, hidden_size=SIZE,
                total_env_steps=2 * 16 * 5, task_inference_coef=1.0, value_reads_task=True, arm_memories=True)  # fmt: skip
    before = [p.detach().clone() for p in model.policy.parameters()]
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert model.iterations == 2
    assert any(not torch.equal(b, a) for b, a in zip(before, model.policy.parameters()))
    trainer.save_checkpoint(tmp_path / "rl2.ckpt")
    loaded = RL2.load_from_checkpoint(tmp_path / "rl2.ckpt", map_location="cpu")
    assert isinstance(loaded.policy, ArmMemoryPolicy)
    r1 = run_trials(RL2Agent(model.policy, seed=1), model.dist, 8, 0)
    twice = RL2Agent([loaded.policy, loaded.policy], seed=1)  # an ensemble of one policy, twice
    r2 = run_trials(twice, loaded.dist, 8, 0)
    torch.testing.assert_close(r1, r2)


def test_learns_to_beat_random_play_on_ten_armed_bandits():
    """A short training (120 k env steps, ~10 s) must already find the good arms: random play earns n/2."""
    torch.set_num_threads(1)
    model = RL2(task="bandit", num_arms=10, num_pulls=20, num_trials=100, num_minibatches=1, hidden_size=16,
                learning_rate=0.01, update_epochs=4, total_env_steps=120_000, gamma=1.0, expected_rewards=True,
                seed=0, arm_memories=True)  # fmt: skip
    quiet_trainer(max_epochs=-1, enable_checkpointing=False, logger=False).fit(model)
    returns = run_trials(RL2Agent(model.policy), make_task_distribution("bandit", 10, 20), 500, 1)
    assert returns.mean() > 13.0, f"mean trial return {returns.mean():.2f}; random play earns 10"


@pytest.mark.parametrize(
    "options, match",
    [
        ({"task": "mdp"}, "task='bandit'"),
        ({"embed_size": 8}, "embed_size"),
        ({"bilinear_head": True, "pull_features": True}, "bilinear_head, pull_features"),
        ({"separate_value": True}, "separate_value"),
        ({"task_inference_coef": 1.0, "policy_reads_estimate": True}, "policy_reads_estimate"),
    ],
)
def test_generic_gru_options_and_mdps_are_refused(options, match):
    with pytest.raises(LeydenConfigError, match=match):
        RL2(**{"task": "bandit", "arm_memories": True, **options})
