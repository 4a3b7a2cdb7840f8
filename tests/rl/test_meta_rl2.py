"""RL²: memory persists within a trial and resets between trials; a training step, a checkpoint
round trip, an interrupted run that resumes exactly, and 2-process DDP."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer, run_ddp_script
from leyden_rl.meta.evaluate import run_trials
from leyden_rl.meta.rl2 import RL2, RL2Agent, novelty
from leyden_rl.meta.tasks import BatchedTrialEnv


def _small(**kw) -> RL2:
    args = dict(
        task="bandit",
        num_arms=3,
        num_pulls=5,
        num_trials=16,
        num_minibatches=2,
        total_env_steps=160,
        hidden_size=16,
    )
    return RL2(**{**args, **kw})


def test_agent_temperature_scales_sampling_and_refuses_non_positive():
    model = _small()
    greedy = run_trials(RL2Agent(model.policy, argmax_from=0.0), model.dist, 64, 0)
    cold = run_trials(RL2Agent(model.policy, temperature=1e-8), model.dist, 64, 0)
    assert torch.equal(cold, greedy)  # near-zero temperature samples the argmax
    default = run_trials(RL2Agent(model.policy, seed=3), model.dist, 64, 0)
    unit = run_trials(RL2Agent(model.policy, seed=3, temperature=1.0), model.dist, 64, 0)
    assert torch.equal(default, unit)
    with pytest.raises(LeydenConfigError, match="temperature"):
        RL2Agent(model.policy, temperature=0.0)


@pytest.mark.parametrize("temperature", [1.0, 1.5])
def test_agent_samples_until_its_share_of_the_trial_then_takes_the_argmax(temperature):
    model = _small(num_pulls=6)
    policy = model.policy
    committing = RL2Agent(policy, argmax_from=0.5, seed=4, temperature=temperature)
    # the same random stream and temperature: the same early draws
    sampling = RL2Agent(policy, argmax_from=1.0, seed=4, temperature=temperature)
    env = BatchedTrialEnv(model.dist, 64, seed=0)
    obs = env.reset()
    committing.reset(env)
    sampling.reset(env)
    memory = policy.initial_state(64)
    done, slips = False, 0
    while not done:
        with torch.no_grad():
            logits, _, memory = policy(obs[None], memory)
        action, sampled = committing.act(obs, env), sampling.act(obs, env)
        if env.t < 3:  # the first half of a six-pull trial
            assert torch.equal(action, sampled)
            slips += (action != logits[0].argmax(-1)).sum().item()
        else:
            assert torch.equal(action, logits[0].argmax(-1))
        obs, _, done = env.step(action)
    assert slips > 0  # the early actions were sampled, not the argmax
    with pytest.raises(LeydenConfigError, match="share of the trial"):
        RL2Agent(policy, argmax_from=1.5)


def test_hidden_state_persists_within_and_resets_between_trials():
    model = _small()
    agent = RL2Agent(model.policy, argmax_from=0.0)
    env = BatchedTrialEnv(model.dist, 4, seed=0)
    obs = env.reset()
    agent.reset(env)
    (memory,) = agent.hidden
    assert (memory == 0).all()
    done = False
    while not done:
        first = agent.hidden[0].clone()
        obs, _, done = env.step(agent.act(obs, env))
        assert not torch.equal(agent.hidden[0], first)  # memory carries across the trial's episodes
    env.reset()
    agent.reset(env)
    assert (agent.hidden[0] == 0).all()


def test_ensemble_of_one_policy_twice_plays_as_that_policy():
    model = _small()
    policy, dist = model.policy, model.dist
    for argmax_from in (1.0, 0.5, 0.0):
        alone = run_trials(RL2Agent(policy, argmax_from=argmax_from, seed=2), dist, 64, 0)
        twice = run_trials(RL2Agent([policy, policy], argmax_from=argmax_from, seed=2), dist, 64, 0)
        assert torch.equal(alone, twice)
    with pytest.raises(LeydenConfigError, match="no policy"):
        RL2Agent([])


def test_ensemble_acts_on_the_mean_of_its_members_probabilities_each_with_its_own_memory():
    model = _small()
    first, second = model.policy, _small(seed=1).policy
    with torch.no_grad():  # a fresh policy head is near-uniform: give the members opinions of their own
        for parameter in [*first.parameters(), *second.parameters()]:
            parameter.add_(torch.randn_like(parameter))
    ensemble = RL2Agent([first, second], argmax_from=0.0)
    env = BatchedTrialEnv(model.dist, 32, seed=0)
    obs = env.reset()
    ensemble.reset(env)
    memories = [first.initial_state(32), second.initial_state(32)]
    done, disagreed = False, 0
    while not done:
        probs = []
        for i, policy in enumerate((first, second)):
            logits, _, memories[i] = policy(obs[None], memories[i])
            probs.append(F.softmax(logits[0], -1))
        action = ensemble.act(obs, env)
        assert torch.equal(action, ((probs[0] + probs[1]) / 2).argmax(-1))
        disagreed += (probs[0].argmax(-1) != probs[1].argmax(-1)).sum().item()
        for mine, alone in zip(ensemble.hidden, memories):
            assert torch.allclose(mine, alone)
        obs, _, done = env.step(action)
    assert disagreed > 0  # the members differ, so the mean decided something


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"separate_value": True},
        {"previous_obs": True, "embed_size": 8},
        {"previous_obs": True, "separate_value": True},
        {"bilinear_head": True, "previous_obs": True},
        {"pull_features": True, "embed_size": 8},
        {"pull_features": True, "previous_obs": True, "separate_value": True},
        {"task_inference_coef": 1.0, "bilinear_head": True, "pull_features": True},
        {"bilinear_head": True, "bilinear_rank": 4, "pull_features": True},
        {"task_inference_coef": 1.0, "transition_inference_coef": 1.0, "pull_features": True},
        {"task_inference_coef": 1.0, "transition_inference_coef": 1.0, "policy_reads_estimate": True},
        {"task_inference_coef": 1.0, "policy_reads_estimate": True, "policy_reads_uncertainty": True},
        {"value_reads_task": True, "task_inference_coef": 1.0, "transition_inference_coef": 1.0},
    ],
)
def test_replay_from_zero_state_reproduces_collection(options):
    """Step-by-step collection and the whole-trial replay of the update see the same network outputs."""
    model = _small(task="mdp", num_episodes=2, **options)
    data = model.collect_trials()
    log_prob, entropy, value, *_ = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    assert (entropy > 0).all()


def test_previous_obs_reaches_the_embedding_one_step_late():
    model = _small(task="mdp", num_episodes=1, previous_obs=True, embed_size=8)
    obs = model.collect_trials()["obs"]  # (T, N, D)
    seen = []
    model.policy.embed.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0]))
    model.policy(obs, model.policy.initial_state(obs.shape[1]))
    d = obs.shape[-1]
    torch.testing.assert_close(seen[0][1:, :, :d], obs[:-1])  # step t gets step t-1's observation
    assert (seen[0][0, :, :d] == 0).all()  # nothing before the trial's first step
    torch.testing.assert_close(seen[0][..., d:], obs)


@pytest.mark.parametrize("task", ["bandit", "mdp"])
def test_pull_features_mark_the_previous_state_action_pair_and_its_reward(task):
    model = _small(task=task, num_episodes=2, pull_features=True, embed_size=8)
    data = model.collect_trials()
    seen = []
    model.policy.embed.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0]))
    model.policy(data["obs"], model.policy.initial_state(data["obs"].shape[1]))
    s, a, d = model.dist.num_states, model.dist.num_actions, data["obs"].shape[-1]
    torch.testing.assert_close(seen[0][..., :d], data["obs"])  # the observation itself comes first
    pulls = seen[0][..., d:].unflatten(-1, (2, s, a))  # [indicator, reward] × state × action
    assert (pulls[0] == 0).all()  # nothing tried before the trial's first step
    states = data["obs"][..., :s].argmax(-1)
    for t in range(1, data["obs"].shape[0]):
        expected = torch.zeros(data["obs"].shape[1], s, a)
        expected[torch.arange(expected.shape[0]), states[t - 1], data["actions"][t - 1]] = 1.0
        torch.testing.assert_close(pulls[t, :, 0], expected)
        torch.testing.assert_close(pulls[t, :, 1], expected * data["rewards"][t - 1, :, None, None])


def test_bilinear_readout_matches_the_bilinear_form():
    from leyden_rl.meta.rl2 import BilinearReadout

    head = BilinearReadout(6, 4, 3)
    torch.nn.init.normal_(head.bias)
    h, obs = torch.randn(2, 5, 6), torch.randn(2, 5, 4)
    w = head.weight.view(6, 3, 4)  # W_ijd
    torch.testing.assert_close(head(h, obs), torch.einsum("tni,ijd,tnd->tnj", h, w, obs) + head.bias)


def test_factorised_bilinear_readout_is_the_bilinear_form_of_its_rank_r_weight():
    from leyden_rl.meta.rl2 import BilinearReadout

    head = BilinearReadout(6, 4, 3, rank=2)
    torch.nn.init.normal_(head.bias)
    h, obs = torch.randn(2, 5, 6), torch.randn(2, 5, 4)
    w = torch.einsum("ir,dr,rj->ijd", head.hidden_factor, head.obs_factor, head.out_factor)  # W_ijd
    torch.testing.assert_close(head(h, obs), torch.einsum("tni,ijd,tnd->tnj", h, w, obs) + head.bias)
    assert sum(p.numel() for p in head.parameters()) == (6 + 4 + 3) * 2 + 3  # not 6·4·3 + 3


def test_separate_value_gru_keeps_the_policy_out_of_the_value_loss():
    model = _small(separate_value=True)
    obs = model.collect_trials()["obs"]
    _, values, hidden = model.policy(obs, model.policy.initial_state(obs.shape[1]))
    assert hidden.shape == (1, obs.shape[1], 2 * model.hparams.hidden_size)
    values.sum().backward()
    assert model.policy.gru.weight_ih_l0.grad is None  # the policy's GRU gets no value gradient
    assert model.policy.value_gru.weight_ih_l0.grad.abs().sum() > 0


@pytest.mark.parametrize("task", ["bandit", "mdp"])
def test_value_reads_the_trials_task_and_the_policy_does_not(task):
    model = _small(task=task, num_episodes=2, value_reads_task=True, bilinear_head=True)
    data = model.collect_trials()
    features = data["task_features"]
    assert features.shape == (1, 16, model.task_feature_size())
    dist, task_params = model.env.dist, model.env.task
    expected = [dist.reward_mean(task_params).flatten(1)]
    if task == "mdp":
        expected.append(dist.transitions(task_params).flatten(1))
    torch.testing.assert_close(features[0], torch.cat(expected, -1))
    policy, obs, start = model.policy, data["obs"], model.policy.initial_state(16)
    logits, values, _ = policy(obs, start, features)
    swapped_logits, swapped_values, _ = policy(obs, start, features.flip(1))  # each trial gets another's task
    torch.testing.assert_close(swapped_logits, logits)  # the policy never reads the task
    assert not torch.allclose(swapped_values, values)  # the value does
    agent_logits, agent_values, _ = policy(obs, start)  # as an evaluated agent: no task, no value
    assert agent_values is None
    torch.testing.assert_close(agent_logits, logits)
    values.sum().backward()
    assert policy.task_value.task.weight.grad.abs().sum() > 0
    assert policy.gru.weight_hh_l0.grad.abs().sum() > 0  # the value loss still shapes the shared memory
    assert all(p.grad is None and not p.requires_grad for p in policy.value_head.parameters())


@pytest.mark.parametrize("task", ["bandit", "mdp"])
def test_task_inference_loss_is_the_weighted_error_of_the_task_means_estimate(task):
    model = _small(task=task, num_episodes=2, task_inference_coef=0.5, bilinear_head=True)
    data = model.collect_trials()
    means = model.env.task["means"] if task == "bandit" else model.env.task["reward_mean"].flatten(1)
    torch.testing.assert_close(data["task_means"][0], means)  # the tasks these trials were played on
    assert means.shape[1] == model.dist.num_states * model.dist.num_actions
    logits, values, estimate, _ = model.policy.outputs(data["obs"], model.policy.initial_state(16))
    assert estimate.shape == (*data["obs"].shape[:2], means.shape[1])
    *_, loss = model.evaluate_actions(data)
    torch.testing.assert_close(loss, 0.5 * ((estimate - means) ** 2).mean())
    loss.backward()
    assert model.policy.gru.weight_hh_l0.grad.abs().sum() > 0  # the loss shapes the memory the policy reads
    assert model.policy.policy_head.weight.grad is None  # and only through it
    forward_logits, _, _ = model.policy(data["obs"], model.policy.initial_state(16))
    torch.testing.assert_close(forward_logits, logits)


@pytest.mark.parametrize("task", ["bandit", "mdp"])
def test_policy_reads_the_detached_estimate_of_the_current_states_reward_means(task):
    model = _small(
        task=task, num_episodes=2, task_inference_coef=1.0, bilinear_head=True, policy_reads_estimate=True
    )
    policy, obs = model.policy, model.collect_trials()["obs"]
    start = policy.initial_state(16)
    without, _, estimate, _ = policy.outputs(obs, start)  # β starts at 0: the policy without the estimate
    with torch.no_grad():
        policy.estimate_weight.fill_(2.0)
    logits, _, _, _ = policy.outputs(obs, start)
    s, a = model.dist.num_states, model.dist.num_actions
    means = estimate[..., : s * a].unflatten(-1, (s, a))
    current = means[
        torch.arange(obs.shape[0])[:, None], torch.arange(16), obs[..., :s].argmax(-1)
    ]  # (T, N, A)
    centred = (current - current.mean(-1, keepdim=True)) / model.dist.reward_mean_std
    torch.testing.assert_close(logits - without, 2.0 * centred)
    logits.sum().backward()
    assert policy.estimate_weight.grad != 0  # β is learnt by the policy's loss
    assert policy.task_head.weight.grad is None  # which reaches neither the estimate
    policy.zero_grad()
    policy.outputs(obs, start)[0].sum().backward()
    gru_grad = policy.gru.weight_hh_l0.grad.clone()
    policy.zero_grad()
    with torch.no_grad():
        policy.estimate_weight.zero_()
    policy.outputs(obs, start)[0].sum().backward()
    torch.testing.assert_close(policy.gru.weight_hh_l0.grad, gru_grad)  # nor the memory through it


@pytest.mark.parametrize("task", ["bandit", "mdp"])
def test_policy_reads_the_spread_its_task_head_learns_as_the_mean_estimates_squared_error(task):
    model = _small(
        task=task, num_episodes=2, task_inference_coef=0.5, transition_inference_coef=1.0 if task == "mdp" else 0.0,
        policy_reads_estimate=True, policy_reads_uncertainty=True,
    )  # fmt: skip
    policy, data = model.policy, model.collect_trials()
    pairs = model.dist.num_states * model.dist.num_actions
    start = policy.initial_state(16)
    without, _, estimate, _ = policy.outputs(data["obs"], start)
    means, variances = estimate[..., :pairs], estimate[..., -pairs:]  # the transition logits between
    *_, loss = model.evaluate_actions(data)
    squared_error = (means - data["task_means"]) ** 2
    expected = 0.5 * squared_error.mean() + 0.5 * ((variances - squared_error) ** 2).mean()
    if task == "mdp":
        log_q = torch.log_softmax(estimate[..., pairs:-pairs].unflatten(-1, (pairs, -1)), -1)
        expected = expected - (data["task_transitions"] * log_q).sum(-1).mean()
    torch.testing.assert_close(loss, expected)
    with torch.no_grad():
        policy.uncertainty_weight.fill_(2.0)
    logits, *_ = policy.outputs(data["obs"], start)
    s, a = model.dist.num_states, model.dist.num_actions
    states = data["obs"][..., :s].argmax(-1)
    current = variances.unflatten(-1, (s, a))[
        torch.arange(data["obs"].shape[0])[:, None], torch.arange(16), states
    ]
    spread = current.clamp(min=0).sqrt()
    centred = (spread - spread.mean(-1, keepdim=True)) / model.dist.reward_mean_std
    torch.testing.assert_close(logits - without, 2.0 * centred)
    logits.sum().backward()
    assert policy.uncertainty_weight.grad != 0  # β_u is learnt by the policy's loss
    assert policy.task_head.weight.grad is None  # which does not reach the spread's estimate


def test_transition_inference_loss_is_the_weighted_cross_entropy_of_the_next_state_estimate():
    model = _small(task="mdp", num_episodes=2, task_inference_coef=0.5, transition_inference_coef=2.0)
    data = model.collect_trials()
    transitions = model.env.task["transitions"]  # (N, S, A, S)
    torch.testing.assert_close(data["task_transitions"][0], transitions.flatten(1, 2))
    _, _, estimate, _ = model.policy.outputs(data["obs"], model.policy.initial_state(16))
    pairs, states = model.dist.num_states * model.dist.num_actions, model.dist.num_states
    assert estimate.shape == (*data["obs"].shape[:2], pairs + pairs * states)
    means, logits = estimate[..., :pairs], estimate[..., pairs:].unflatten(-1, (pairs, states))
    reward_error = ((means - model.env.task["reward_mean"].flatten(1)) ** 2).mean()
    cross_entropy = -(transitions.flatten(1, 2) * logits.log_softmax(-1)).sum(-1).mean()
    *_, loss = model.evaluate_actions(data)
    torch.testing.assert_close(loss, 0.5 * reward_error + 2.0 * cross_entropy)
    # A perfect next-state estimate leaves only the true distributions' own entropy.
    exact = torch.cat([means, transitions.flatten(1, 2).log().flatten(-2).expand(*means.shape[:2], -1)], -1)
    entropy = -(transitions * transitions.log()).sum(-1).mean()
    torch.testing.assert_close(
        model.task_inference_loss(exact.detach(), data), 0.5 * reward_error.detach() + 2.0 * entropy
    )


def test_inference_stride_takes_every_strided_step_starting_where_the_iteration_cycles():
    model = _small(task="mdp", num_episodes=2, task_inference_coef=1.0, inference_stride=3)
    data = model.collect_trials()
    _, _, estimate, _ = model.policy.outputs(data["obs"], model.policy.initial_state(16))
    means = data["task_means"]
    for iteration in range(4):
        model.iterations = iteration
        *_, loss = model.evaluate_actions(data)
        strided = estimate[iteration % 3 :: 3]
        torch.testing.assert_close(loss, ((strided - means) ** 2).mean())


@pytest.mark.parametrize(
    "task, inference",
    [
        ("bandit", {}),
        ("mdp", {}),
        ("mdp", {"task_inference_coef": 1.0}),
        ("mdp", {"transition_inference_coef": 1.0}),
        ("mdp", {"value_reads_task": True}),
    ],
)
def test_training_step_and_checkpoint_round_trip(task, inference, tmp_path):
    steps = 2 * 16 * (5 if task == "bandit" else 20)
    model = _small(task=task, num_episodes=2, total_env_steps=steps, **inference)
    before = [p.detach().clone() for p in model.policy.parameters()]
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path)  # fmt: skip
    trainer.fit(model)
    assert model.iterations == 2 and model.env_steps == model.hparams.total_env_steps
    after = list(model.policy.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after))
    assert all(torch.isfinite(a).all() for a in after)
    path = tmp_path / "rl2.ckpt"
    trainer.save_checkpoint(path)
    loaded = RL2.load_from_checkpoint(path, map_location="cpu")
    assert loaded.env_steps == model.env_steps and loaded.iterations == 2
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values()):
        torch.testing.assert_close(a, b)
    assert torch.equal(loaded.env.generator.get_state(), model.env.generator.get_state())
    r1 = run_trials(RL2Agent(model.policy, seed=1), model.dist, 8, 0)
    r2 = run_trials(RL2Agent(loaded.policy, seed=1), loaded.dist, 8, 0)
    torch.testing.assert_close(r1, r2)


@pytest.mark.parametrize("expected_rewards", [False, True])
def test_ppo_targets_are_drawn_or_expected_rewards(expected_rewards, monkeypatch, tmp_path):
    """``expected_rewards`` puts each pulled arm's mean in the returns; the observation keeps the draw."""
    import leyden_rl.meta.rl2 as rl2_module

    model = _small(expected_rewards=expected_rewards, reward_scale=0.5)
    collect, seen = model.collect_trials, {}

    def collect_and_record() -> dict:
        data = collect()
        seen["drawn"] = data["rewards"].clone()
        seen["means"] = model.env.task["means"].gather(1, data["actions"].T).T  # (T, N) chosen arm means
        return data

    def record_gae(rewards, *args):
        seen["targets"] = rewards
        return gae(rewards, *args)

    gae = rl2_module.gae
    monkeypatch.setattr(model, "collect_trials", collect_and_record)
    monkeypatch.setattr(rl2_module, "gae", record_gae)
    trainer = quiet_trainer(
        max_epochs=1, enable_checkpointing=False, limit_train_batches=1, default_root_dir=tmp_path
    )
    trainer.fit(model)
    assert set(seen["drawn"].unique().tolist()) <= {0.0, 1.0}  # Bernoulli draws
    expected = seen["means"] if expected_rewards else seen["drawn"]
    torch.testing.assert_close(seen["targets"], 0.5 * expected)


def test_novelty_is_one_over_root_of_one_plus_the_earlier_tries_of_the_pair():
    states = torch.tensor([[0, 1], [0, 1], [1, 1], [0, 0], [0, 1]])  # (T, N): two trials side by side
    actions = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 0], [1, 0]])
    obs = torch.cat([F.one_hot(states, 2).float(), torch.zeros(5, 2, 4)], -1)  # a_{t-1}, r_{t-1}, d_{t-1}: 0
    tries = torch.tensor([[0, 0], [1, 1], [0, 2], [0, 0], [2, 3]])  # of (s_t, a_t) before step t
    torch.testing.assert_close(novelty(obs, actions, 2), (1 + tries.float()).rsqrt())


@pytest.mark.parametrize("fraction, scales", [(0.5, [1.0, 0.5, 0.0, 0.0]), (2.0, [1.0, 0.875, 0.75, 0.625])])
def test_novelty_bonus_joins_the_ppo_targets_and_decays_over_its_share_of_the_budget(
    fraction, scales, monkeypatch, tmp_path
):
    """Four iterations (progress 0, 1/4, 1/2, 3/4); the bonus 0.5 times ``scales`` of the novelty:
    gone after half the budget, or — decaying over twice the budget — never."""
    import leyden_rl.meta.rl2 as rl2_module

    model = _small(
        task="mdp", num_episodes=2, expected_rewards=True, reward_scale=0.5,
        novelty_bonus=0.5, novelty_bonus_fraction=fraction, total_env_steps=4 * 16 * 20,
    )  # fmt: skip
    collect, seen = model.collect_trials, []

    def collect_and_record() -> dict:
        data = collect()
        expected = model.env.dist.reward_mean(model.env.task)  # (N, S, A)
        states = data["obs"][..., : model.dist.num_states].argmax(-1)
        means = expected[torch.arange(16), states, data["actions"]]  # (T, N) the chosen pairs' means
        novel = model.dist.reward_mean_std * novelty(data["obs"], data["actions"], model.dist.num_actions)
        seen.append({"means": means, "novelty": novel})
        return data

    def record_gae(rewards, *args):
        seen[-1]["targets"] = rewards
        return gae(rewards, *args)

    gae = rl2_module.gae
    monkeypatch.setattr(model, "collect_trials", collect_and_record)
    monkeypatch.setattr(rl2_module, "gae", record_gae)
    trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert len(seen) == 4
    for step, scale in zip(seen, scales):
        torch.testing.assert_close(step["targets"], 0.5 * (step["means"] + 0.5 * scale * step["novelty"]))
    assert trainer.callback_metrics["train/novelty_bonus"].item() == pytest.approx(0.5 * scales[-1])


def test_same_seed_same_run(tmp_path):
    runs = []
    for attempt in range(2):
        model = _small(seed=5)
        trainer = quiet_trainer(
            max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path / str(attempt)
        )
        trainer.fit(model)
        runs.append([p.detach().clone() for p in model.policy.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


# Four iterations of 16 five-pull trials; with the curriculum, three of two-pull trials first, then three
# of five (the last one passes the budget: 3·16·2 + 3·16·5 = 336 env steps).
@pytest.mark.parametrize(
    "curriculum, iterations, env_steps",
    [
        ({}, 4, 4 * 16 * 5),
        ({"curriculum_length": 2, "curriculum_fraction": 0.25}, 6, 3 * 16 * 2 + 3 * 16 * 5),
    ],
    ids=["plain", "curriculum"],
)
def test_resumed_run_matches_an_uninterrupted_one(curriculum, iterations, env_steps, tmp_path):
    def trainer(**kw):
        return quiet_trainer(enable_checkpointing=False, default_root_dir=tmp_path, **kw)

    budget = 4 * 16 * 5
    whole = _small(total_env_steps=budget, **curriculum)
    trainer(max_epochs=-1).fit(whole)
    interrupted = _small(total_env_steps=budget, **curriculum)
    hp = interrupted.hparams
    stopper = trainer(max_steps=2 * hp.update_epochs * hp.num_minibatches)  # optimizer steps of 2 iterations
    stopper.fit(interrupted)
    assert interrupted.iterations == 2  # with the curriculum: still in it, the switch comes after resuming
    stopper.save_checkpoint(tmp_path / "half.ckpt")
    resumed = _small(total_env_steps=budget, **curriculum)
    trainer(max_epochs=-1).fit(resumed, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.iterations == whole.iterations == iterations
    assert resumed.env_steps == whole.env_steps == env_steps
    for a, b in zip(whole.policy.parameters(), resumed.policy.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("task, short, full", [("bandit", 2, 5), ("mdp", 10, 30)])
def test_curriculum_plays_short_trials_then_the_tasks_own(task, short, full, tmp_path):
    """Short trials until ``curriculum_fraction`` of the budget is spent, then full ones; ``dist`` stays full."""
    budget = 2 * 16 * short + 2 * 16 * full
    model = _small(
        task=task, num_episodes=3, curriculum_length=1 if task == "mdp" else 2,
        curriculum_fraction=2 * 16 * short / budget, total_env_steps=budget,
    )  # fmt: skip
    lengths, collect = [], model.collect_trials

    def collect_and_record() -> dict:
        data = collect()
        lengths.append(data["obs"].shape[0])
        return data

    model.collect_trials = collect_and_record
    quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path).fit(model)
    assert lengths == [short, short, full, full] and model.env_steps == budget
    assert BatchedTrialEnv(model.dist, 1).trial_length == full


@pytest.mark.parametrize(
    "options", ["{}", '{"value_reads_task": true}', '{"arm_memories": true, "value_reads_task": true}']
)
def test_ddp_ranks_play_different_tasks_and_share_weights(options, tmp_path):
    """Also with the value reading the task (its frozen plain head must not leave DDP waiting for
    gradients) and with per-arm memories."""
    run_ddp_script(Path(__file__).parent / "rl2_ddp_script.py", str(tmp_path), options)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert not torch.allclose(r0["arm_means"], r1["arm_means"]), "ranks must sample different tasks"
    assert r0["env_steps"] == r1["env_steps"] == 80
    for a, b in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b), "gradients are averaged, so weights must match across ranks"


def test_bad_config_raises():
    with pytest.raises(LeydenConfigError):
        _small(task="pomdp")
    with pytest.raises(LeydenConfigError):
        _small(num_trials=15, num_minibatches=2)
    with pytest.raises(LeydenConfigError, match="curriculum_length"):
        _small(curriculum_length=5)  # no shorter than the 5-pull trials
    with pytest.raises(LeydenConfigError, match="curriculum_fraction"):
        _small(curriculum_length=2, curriculum_fraction=0.0)
    with pytest.raises(LeydenConfigError, match="task_inference_coef"):
        _small(task_inference_coef=-1.0)
    with pytest.raises(LeydenConfigError, match="transition_inference_coef"):
        _small(task="mdp", transition_inference_coef=-1.0)
    with pytest.raises(LeydenConfigError, match="no transitions to infer"):
        _small(task="bandit", transition_inference_coef=1.0)
    with pytest.raises(LeydenConfigError, match="unknown RL² task family"):
        _small(task="pomdp", transition_inference_coef=1.0)  # the task named wrong, not a bandit
    with pytest.raises(LeydenConfigError, match="inference_stride"):
        _small(task_inference_coef=1.0, inference_stride=0)
    with pytest.raises(LeydenConfigError, match="bilinear_rank"):
        _small(bilinear_rank=8)  # no bilinear head to factorise
    with pytest.raises(LeydenConfigError, match="bilinear_rank"):
        _small(bilinear_head=True, bilinear_rank=0)
    with pytest.raises(LeydenConfigError, match="task_inference_coef > 0"):
        _small(policy_reads_estimate=True)  # no estimate to read
    with pytest.raises(LeydenConfigError, match="policy_reads_estimate=True"):
        _small(task_inference_coef=1.0, policy_reads_uncertainty=True)
    with pytest.raises(LeydenConfigError, match="novelty_bonus"):
        _small(novelty_bonus=-1.0)
    with pytest.raises(LeydenConfigError, match="novelty_bonus_fraction"):
        _small(novelty_bonus=1.0, novelty_bonus_fraction=0.0)


EXAMPLES = Path(__file__).parents[2] / "examples" / "rl"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("rl2_*.yaml")))
def test_example_configs_build_the_model(name):
    import yaml

    config = yaml.safe_load((EXAMPLES / name).read_text())
    assert config["model"]["class_path"] == "leyden_rl.meta.rl2.RL2"
    model = RL2(**config["model"]["init_args"])
    assert model.hparams.task in ("bandit", "mdp")


def test_leyden_fit_runs_an_example_config(tmp_path):
    from leyden_core.cli import main

    main([
        "fit", "--config", str(EXAMPLES / "rl2_bandits_n100.yaml"), f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.accelerator=cpu",
        "--model.init_args.total_env_steps=20000",  # two iterations of 100 trials × 100 pulls
    ])  # fmt: skip
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert saved["leyden_rl2"]["env_steps"] == 20000 and saved["leyden_rl2"]["iterations"] == 2


@pytest.mark.parametrize("anneal_ent, last", [(False, 0.1), (True, 0.1 * (1 - 3 / 4))])
def test_entropy_bonus_anneals_with_progress_when_asked(anneal_ent, last, tmp_path):
    """The last of four iterations starts at 3/4 of the budget: its bonus is 1/4 of the start with ``anneal_ent``."""
    model = _small(ent_coef=0.1, anneal_ent=anneal_ent, total_env_steps=4 * 16 * 5)
    trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert model.iterations == 4
    assert trainer.callback_metrics["train/ent_coef"].item() == pytest.approx(last)
