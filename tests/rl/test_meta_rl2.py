"""RL²: memory persists within a trial and resets between trials; the update's replay sees what play saw;
the policies' and losses' pieces; a training step, a checkpoint round trip, an interrupted run that
resumes exactly, 2-process DDP, and the recipes through ``leyden fit``."""

from functools import partial
from pathlib import Path

import pytest
import torch
import yaml
from lightning.pytorch.callbacks import Callback

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer, run_ddp_script
from leyden_rl.meta.arm_memory import ArmMemoryPolicy
from leyden_rl.meta.auxiliary import TaskInference
from leyden_rl.meta.evaluate import PolicyAgent, run_trials
from leyden_rl.meta.gru import BilinearReadout, GRUPolicy, TabularGRUPolicy
from leyden_rl.meta.policy_base import previous_step
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BatchedTrialEnv, BernoulliBandits, RandomTabularMDPs, novelty

ROOT = Path(__file__).parents[2]
EXAMPLES = ROOT / "examples" / "rl"


def _small(tasks=None, policy=partial(GRUPolicy, hidden_size=16), **kw) -> RL2:
    args = dict(num_trials=16, num_minibatches=2, total_env_steps=160)
    return RL2(tasks or BernoulliBandits(3, 5), policy, **{**args, **kw})


def _mdp(**kw) -> RL2:
    return _small(RandomTabularMDPs(num_episodes=2), **kw)


def test_hidden_state_persists_within_and_resets_between_trials():
    model = _small()
    agent = PolicyAgent(model.policy)
    env = BatchedTrialEnv(model.tasks, 4, seed=0)
    obs = env.reset()
    agent.reset(env)
    assert (agent.hidden == 0).all()
    for _ in range(env.trial_length):
        before = agent.hidden.clone()
        action = agent.act(obs, env)
        obs, reward, _ = env.step(action)
        agent.update(None, action, reward, env)
        assert not torch.equal(agent.hidden, before)  # memory carries across the trial's episodes
    agent.reset(env)
    assert (agent.hidden == 0).all()


def test_previous_step_is_the_last_action_reward_and_done_zero_at_the_start():
    actions, rewards = torch.tensor([[2], [0], [1]]), torch.tensor([[1.0], [0.0], [0.5]])
    dones = torch.tensor([[False], [True], [False]])
    previous = previous_step(actions, rewards, dones, 3)  # (T, N, A + 2)
    assert (previous[0] == 0).all()
    torch.testing.assert_close(previous[1, 0], torch.tensor([0.0, 0.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(previous[2, 0], torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0]))


TABULAR = partial(TabularGRUPolicy, hidden_size=16)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"policy": partial(GRUPolicy, hidden_size=16, embed_size=8)},
        {"policy": partial(TABULAR, pull_features=True, embed_size=8)},
        {"policy": partial(TABULAR, bilinear_head=True, pull_features=True)},
        {"policy": partial(TABULAR, bilinear_head=True, reads_estimate=True),
         "auxiliary_losses": [TaskInference(1.0, "reward_means")]},
        {"policy": partial(TABULAR, value_reads_task=True, pull_features=True),
         "auxiliary_losses": [TaskInference(1.0)]},
    ],
)  # fmt: skip
def test_replay_from_zero_state_reproduces_play(options):
    """Step-by-step play and the whole-trial replay of the update see the same network outputs."""
    model = _mdp(**options)
    data = model.play_trials()
    log_prob, entropy, value, *_ = model.evaluate_actions(data)
    torch.testing.assert_close(log_prob, data["log_probs"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, data["values"], atol=1e-5, rtol=1e-5)
    assert (entropy > 0).all()


@pytest.mark.parametrize("tasks", [BernoulliBandits(3, 4), RandomTabularMDPs(num_episodes=1)])
def test_pull_features_mark_the_previous_state_action_pair_and_its_reward(tasks):
    model = _small(tasks, partial(TABULAR, pull_features=True, embed_size=8))
    data = model.play_trials()
    seen = []
    model.policy.embed.register_forward_hook(lambda module, inputs, out: seen.append(inputs[0]))
    previous = previous_step(data["actions"], data["rewards"], data["dones"], tasks.num_actions)
    model.policy(data["obs"], previous, model.policy.initial_state(16))
    s, a = tasks.num_states, tasks.num_actions
    pulled, paid = seen[0][..., -2 * s * a : -s * a], seen[0][..., -s * a :]
    assert (pulled[0] == 0).all()  # nothing pulled before the first step
    state, action = data["obs"][:-1].argmax(-1), data["actions"][:-1]
    expected = torch.zeros_like(pulled[1:]).unflatten(-1, (s, a))
    t, n = torch.meshgrid(torch.arange(state.shape[0]), torch.arange(16), indexing="ij")
    expected[t, n, state, action] = 1.0
    torch.testing.assert_close(pulled[1:], expected.flatten(-2))
    torch.testing.assert_close(paid[1:], pulled[1:] * data["rewards"][:-1, :, None])


def test_bilinear_readout_matches_the_bilinear_form():
    head = BilinearReadout(6, 4, 3)
    h, x = torch.randn(5, 2, 6), torch.randn(5, 2, 4)
    w = head.weight.unflatten(-1, (3, 4))  # (hidden, out, input)
    torch.testing.assert_close(head(h, x), torch.einsum("tni,ijd,tnd->tnj", h, w, x) + head.bias)


@pytest.mark.parametrize("tasks", [BernoulliBandits(3, 5), RandomTabularMDPs(num_episodes=2)])
def test_value_reads_the_trials_task_and_the_policy_does_not(tasks):
    model = _small(tasks, partial(TABULAR, value_reads_task=True, bilinear_head=True))
    data = model.play_trials()
    task = torch.cat([v for k, v in data.items() if k.startswith("task.")], -1)
    expected = [tasks.reward_mean(model.trials.task).flatten(1)]
    if tasks.num_states > 1:
        expected.append(tasks.transitions(model.trials.task).flatten(1))
    torch.testing.assert_close(task[0], torch.cat(expected, -1))
    policy, start = model.policy, model.policy.initial_state(16)
    previous = previous_step(data["actions"], data["rewards"], data["dones"], tasks.num_actions)
    out = policy(data["obs"], previous, start, task)
    swapped = policy(data["obs"], previous, start, task.flip(1))  # each trial gets another's task
    torch.testing.assert_close(swapped.logits, out.logits)  # the policy never reads the task
    assert not torch.allclose(swapped.values, out.values)  # the value does
    as_agent = policy(data["obs"], previous, start)  # an evaluated agent: no task, no value
    assert as_agent.values is None
    torch.testing.assert_close(as_agent.logits, out.logits)
    out.values.sum().backward()
    assert policy.task_value.task.weight.grad.abs().sum() > 0
    assert policy.gru.weight_hh_l0.grad.abs().sum() > 0  # the value loss still shapes the shared memory


@pytest.mark.parametrize("tasks", [BernoulliBandits(3, 5), RandomTabularMDPs(num_episodes=2)])
def test_task_inference_loss_is_the_weighted_error_of_the_reward_means_estimate(tasks):
    model = _small(
        tasks, partial(TABULAR, bilinear_head=True), auxiliary_losses=[TaskInference(0.5, "reward_means")]
    )
    data = model.play_trials()
    means = tasks.reward_mean(model.trials.task).flatten(1)
    torch.testing.assert_close(data["task.reward_means"][0], means)  # the tasks these trials were played on
    previous = previous_step(data["actions"], data["rewards"], data["dones"], tasks.num_actions)
    out = model.policy(data["obs"], previous, model.policy.initial_state(16))
    assert out.estimate.shape == (*data["obs"].shape[:2], tasks.num_states * tasks.num_actions)
    *_, loss = model.evaluate_actions(data)
    torch.testing.assert_close(loss, 0.5 * ((out.estimate - means) ** 2).mean())
    loss.backward()
    assert model.policy.gru.weight_hh_l0.grad.abs().sum() > 0  # the loss shapes the memory the policy reads
    assert model.policy.policy_head.weight.grad is None  # and only through it


def test_policy_reads_the_detached_estimate_of_the_current_states_reward_means():
    model = _mdp(
        policy=partial(TABULAR, reads_estimate=True), auxiliary_losses=[TaskInference(1.0, "reward_means")]
    )
    policy, data = model.policy, model.play_trials()
    previous = previous_step(data["actions"], data["rewards"], data["dones"], 5)
    start = policy.initial_state(16)
    without = policy(data["obs"], previous, start)  # β starts at 0: the policy without the estimate
    with torch.no_grad():
        policy.estimate_weight.fill_(2.0)
    logits = policy(data["obs"], previous, start).logits
    means = without.estimate.unflatten(-1, (10, 5))
    current = torch.einsum("tns,tnsa->tna", data["obs"], means)
    torch.testing.assert_close(logits - without.logits, 2.0 * (current - current.mean(-1, keepdim=True)))
    logits.sum().backward()
    assert policy.estimate_weight.grad != 0  # β is learnt by the policy's loss
    assert (
        policy.task_head.weight.grad is None
    )  # which reaches neither the estimate nor the memory through it


@pytest.mark.parametrize(
    "tasks, options",
    [
        (BernoulliBandits(3, 5), {}),
        (BernoulliBandits(3, 5), {"policy": partial(ArmMemoryPolicy, memory_size=8, value_reads_task=True),
                                  "auxiliary_losses": [TaskInference(10.0)]}),
        (RandomTabularMDPs(num_episodes=2), {"policy": partial(TABULAR, value_reads_task=True, pull_features=True),
                                             "auxiliary_losses": [TaskInference(1.0, "reward_means")]}),
    ],
)  # fmt: skip
def test_training_step_and_checkpoint_round_trip(tasks, options, tmp_path):
    steps = 2 * 16 * tasks.trial_length
    model = _small(tasks, total_env_steps=steps, **options)
    before = [p.detach().clone() for p in model.policy.parameters()]
    trainer = quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model)
    assert model.iterations == 2 and model.env_steps == steps
    after = list(model.policy.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after))
    assert all(torch.isfinite(a).all() for a in after)
    path = tmp_path / "rl2.ckpt"
    trainer.save_checkpoint(path)
    loaded = RL2.load_from_checkpoint(path, map_location="cpu", weights_only=True)  # plain data only
    assert loaded.env_steps == model.env_steps and loaded.iterations == 2
    assert type(loaded.policy) is type(model.policy) and loaded.tasks == model.tasks
    for a, b in zip(model.policy.state_dict().values(), loaded.policy.state_dict().values()):
        torch.testing.assert_close(a, b)
    r1 = run_trials(PolicyAgent(model.policy, seed=1), tasks, 8, 0)
    r2 = run_trials(PolicyAgent(loaded.policy, seed=1), tasks, 8, 0)
    torch.testing.assert_close(r1, r2)


@pytest.mark.parametrize("expected_rewards", [False, True])
def test_ppo_targets_are_drawn_or_expected_rewards(expected_rewards):
    """``expected_rewards`` puts each pulled arm's mean in the targets; the observation keeps the draw."""
    model = _small(expected_rewards=expected_rewards, reward_scale=0.5)
    data = model.play_trials()
    drawn = data["rewards"].clone()
    means = model.trials.task["means"].gather(1, data["actions"].T).T  # (T, N) the chosen arms' means
    targets = model.ppo_rewards(data, progress=0.0)
    assert set(drawn.unique().tolist()) <= {0.0, 1.0}  # Bernoulli draws
    torch.testing.assert_close(targets, 0.5 * (means if expected_rewards else drawn))


def test_novelty_is_one_over_root_of_one_plus_the_earlier_tries_of_the_pair():
    states = torch.tensor([[0, 1], [0, 1], [1, 1], [0, 0], [0, 1]])  # (T, N): two trials side by side
    actions = torch.tensor([[1, 0], [1, 0], [1, 0], [0, 0], [1, 0]])
    tries = torch.tensor([[0, 0], [1, 1], [0, 2], [0, 0], [2, 3]])  # of (s_t, a_t) before step t
    torch.testing.assert_close(novelty(states, actions, 2, 2), (1 + tries.float()).rsqrt())


@pytest.mark.parametrize("progress", [0.0, 0.25, 1.0])
def test_novelty_bonus_joins_the_ppo_targets_and_decays_over_training(progress):
    model = _mdp(expected_rewards=True, reward_scale=0.5, novelty_bonus=0.5)
    data = model.play_trials()
    expected = model.tasks.reward_mean(model.trials.task)  # (N, S, A)
    states = data["obs"].argmax(-1)
    means = expected[torch.arange(16), states, data["actions"]]
    tries = novelty(states, data["actions"], 10, 5)
    targets = model.ppo_rewards(data, progress)
    torch.testing.assert_close(targets, 0.5 * (means + 0.5 * (1 - progress) * tries))


def test_same_seed_same_run(tmp_path):
    runs = []
    for attempt in range(2):
        model = _small(seed=5)
        quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path / str(attempt)).fit(
            model
        )
        runs.append([p.detach().clone() for p in model.policy.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


# Four iterations of 16 five-pull trials; with the curriculum, two-pull trials for the first half of the
# budget (160 env steps: five iterations), then five-pull ones (160 more: two iterations).
class StopAfterIterations(Callback):
    """Stop a run cleanly after ``n`` training steps (PPO iterations), as an interruption would."""

    def __init__(self, n: int) -> None:
        self.n = n

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        trainer.should_stop = trainer.should_stop or batch_idx + 1 >= self.n


@pytest.mark.parametrize(
    "curriculum, iterations, env_steps",
    [({}, 4, 4 * 16 * 5), ({"curriculum_episodes": 2}, 7, 5 * 16 * 2 + 2 * 16 * 5)],
    ids=["plain", "curriculum"],
)
def test_resumed_run_matches_an_uninterrupted_one(curriculum, iterations, env_steps, tmp_path):
    def trainer(**kw):
        return quiet_trainer(enable_checkpointing=False, default_root_dir=tmp_path, **kw)

    budget = 4 * 16 * 5
    whole = _small(total_env_steps=budget, **curriculum)
    trainer(max_epochs=-1).fit(whole)
    interrupted = _small(total_env_steps=budget, **curriculum)
    stopper = trainer(max_epochs=-1, callbacks=[StopAfterIterations(2)])
    stopper.fit(interrupted)
    assert interrupted.iterations == 2
    stopper.save_checkpoint(tmp_path / "half.ckpt")
    resumed = _small(total_env_steps=budget, **curriculum)
    trainer(max_epochs=-1).fit(resumed, ckpt_path=tmp_path / "half.ckpt")
    assert resumed.iterations == whole.iterations == iterations
    assert resumed.env_steps == whole.env_steps == env_steps
    for a, b in zip(whole.policy.parameters(), resumed.policy.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_curriculum_plays_short_trials_then_the_familys_own(tmp_path):
    """Half the budget (320 env steps) in 10-step trials, then 20-step ones until it is spent."""
    model = _mdp(curriculum_episodes=1, total_env_steps=640)
    lengths, play = [], model.play_trials

    def play_and_record() -> dict:
        data = play()
        lengths.append(data["obs"].shape[0])
        return data

    model.play_trials = play_and_record
    quiet_trainer(max_epochs=1, enable_checkpointing=False, default_root_dir=tmp_path).fit(model)
    assert lengths == [10, 10, 20] and model.env_steps == 640
    assert model.tasks.trial_length == 20  # the family itself is never shortened


@pytest.mark.parametrize(
    "options",
    [
        "{}",
        '{"policy": {"class_path": "leyden_rl.meta.gru.TabularGRUPolicy", "init_args": {"hidden_size": 16, "value_reads_task": true}}}',
        '{"policy": {"class_path": "leyden_rl.meta.arm_memory.ArmMemoryPolicy", "init_args": {"memory_size": 8, "value_reads_task": true}},'
        ' "auxiliary_losses": [{"class_path": "leyden_rl.meta.auxiliary.TaskInference", "init_args": {"coef": 1.0}}]}',
        '{"tasks": {"class_path": "leyden_rl.meta.maze.RandomMazes", "init_args": {"size": 3, "num_episodes": 2, "max_episode_steps": 4, "resolution": 16}},'
        ' "policy": {"class_path": "leyden_rl.meta.gru.CNNGRUPolicy", "init_args": {"hidden_size": 16, "features": 16, "filters": 4}},'
        ' "auxiliary_losses": [{"class_path": "leyden_rl.meta.auxiliary.TaskInference", "init_args": {"coef": 1.0, "target": "goal"}}],'
        ' "total_env_steps": 128}',
    ],
    ids=["gru", "task-reading value", "arm memories", "pixel mazes"],
)  # fmt: skip
def test_ddp_ranks_play_different_tasks_and_share_weights(options, tmp_path):
    run_ddp_script(Path(__file__).parent / "rl2_ddp_script.py", str(tmp_path), options)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert not torch.equal(r0["task"], r1["task"]), "ranks must sample different tasks"
    assert r0["env_steps"] == r1["env_steps"]
    for a, b in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b), "gradients are averaged, so weights must match across ranks"


def test_bad_config_raises():
    with pytest.raises(LeydenConfigError, match="divisible"):
        _small(num_trials=15, num_minibatches=2)
    with pytest.raises(LeydenConfigError, match="curriculum_episodes"):
        _small(curriculum_episodes=5)  # no shorter than the 5-pull trials
    with pytest.raises(LeydenConfigError, match="coef"):
        TaskInference(-1.0)
    with pytest.raises(LeydenConfigError, match="target"):
        _small(auxiliary_losses=[TaskInference(1.0, "transitions")])  # a bandit has none
    with pytest.raises(LeydenConfigError, match="reads_estimate"):
        _small(policy=partial(TABULAR, reads_estimate=True))  # no estimate to read
    with pytest.raises(LeydenConfigError, match="novelty_bonus"):
        _small(novelty_bonus=-1.0)
    with pytest.raises(LeydenConfigError, match="ArmMemoryPolicy"):
        _mdp(policy=ArmMemoryPolicy)  # an MDP's actions are not exchangeable arms


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("rl2_*.yaml")))
def test_example_configs_build_the_model(name):
    config = yaml.safe_load((EXAMPLES / name).read_text())
    assert config["model"]["class_path"] == "leyden_rl.meta.rl2.RL2"
    model = RL2(**config["model"]["init_args"])  # the pieces as a config names them
    assert model.hparams.tasks == config["model"]["init_args"]["tasks"] | {
        "init_args": model.hparams.tasks["init_args"]
    }


def test_leyden_fit_runs_a_recipe_and_resumes(tmp_path):
    from leyden_core.cli import main

    args = [
        "fit", "--config", str(EXAMPLES / "rl2_bandits_n100.yaml"), f"--trainer.default_root_dir={tmp_path}",
        "--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.accelerator=cpu",
        "--model.init_args.num_trials=10",
    ]  # fmt: skip
    main([*args, "--model.init_args.total_env_steps=2000"])  # two iterations of 10 trials × 100 pulls
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_rl2"]["env_steps"] == 2000 and saved["leyden_rl2"]["iterations"] == 2
    main([*args, "--model.init_args.total_env_steps=3000", "--ckpt_path=last"])
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_rl2"]["iterations"] == 3


@pytest.mark.parametrize(
    "setting, tasks", [("bandit_10_5", BernoulliBandits(5, 10)), ("mdp_10", RandomTabularMDPs())]
)
def test_the_tables_checkpoints_load_and_play_well_above_random(setting, tasks):
    """The committed agents load with weights_only and, sampling as trained, beat random play clearly
    (random: 5.0 per bandit trial, 100 per MDP trial; the table's agents score 6.7 and 156)."""
    model = RL2.load_from_checkpoint(
        ROOT / f"benchmarks/checkpoints/rl2/rl2_{setting}.ckpt", weights_only=True
    )
    assert model.tasks == tasks
    returns = run_trials(PolicyAgent(model.policy), tasks, 200, 0)
    assert returns.mean() > (6.3 if setting.startswith("bandit") else 140.0)
