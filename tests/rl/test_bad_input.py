"""Bad input to the RL methods: two lines (problem, fix), exit 2, before any env step is trained.

In-process runs of the console script's ``main`` (see ``tests/core/cli_runner.py``); each case
checks the exit code, a short stderr without traceback, and that it names the problem.
"""

from __future__ import annotations

import pytest

from tests.core.cli_runner import assert_two_line_error, leyden_in_process

FIT = [
    "fit",
    "--trainer.logger",
    "false",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.max_epochs",
    "-1",
]
PPO = ["--model", "PPO", "--model.total_env_steps", "64"]
DQN = ["--model", "DQN", "--model.total_env_steps", "64"]
SAC = ["--model", "SAC", "--model.total_env_steps", "64"]
TRPO = ["--model", "TRPO", "--model.total_env_steps", "64"]
A2C = ["--model", "A2C", "--model.total_env_steps", "64"]
TD3 = ["--model", "TD3", "--model.total_env_steps", "64"]

CASES = {
    # RL² pieces that do not fit the task family
    "rl2-maze-frames-too-small": (
        ["--config", "rl2_maze", "--model.tasks.init_args.resolution", "8"],
        ["at least 15x15 pixels", "resolution of 16"],
    ),
    # env ids and action spaces
    "unknown-env-id": (
        [*PPO, "--model.env_id", "CartPol-v1"],
        ["cannot make environment 'CartPol-v1'", "CartPole"],
    ),
    "dqn-on-continuous-actions": (
        [*DQN, "--model.env_id", "Pendulum-v1"],
        ["DQN needs a Discrete action space"],
    ),
    "sac-on-discrete-actions": ([*SAC, "--model.env_id", "CartPole-v1"], ["SAC needs a Box"]),
    "td3-on-discrete-actions": ([*TD3, "--model.env_id", "CartPole-v1"], ["TD3 needs a Box"]),
    "ddpg-on-discrete-actions": (
        ["--model", "DDPG", "--model.total_env_steps", "64", "--model.env_id", "CartPole-v1"],
        ["DDPG needs a Box"],
    ),
    "unsupported-observation-space": (
        [*PPO, "--model.env_id", "Blackjack-v1"],
        ["observation space Tuple", "FlattenObservation"],
    ),
    # types and ranges
    "negative-learning-rate": ([*PPO, "--model.learning_rate", "-0.001"], ["learning_rate must be > 0"]),
    "learning-rate-not-a-number": (
        [*PPO, "--model.learning_rate", "fast"],
        ["'learning_rate' expects a float"],
    ),
    "gamma-above-one": ([*PPO, "--model.gamma", "1.5"], ["gamma must be in [0, 1]"]),
    "zero-envs": ([*PPO, "--model.num_envs", "0"], ["num_envs must be at least 1"]),
    "zero-env-steps": ([*PPO, "--model.total_env_steps", "0"], ["total_env_steps must be at least 1"]),
    "unknown-vectorization": (
        [*PPO, "--model.vectorization", "threads"],
        ["unknown vectorization 'threads'"],
    ),
    "unknown-activation": ([*PPO, "--model.activation", "gelu"], ["unknown activation 'gelu'"]),
    # shapes and sizes
    "minibatch-larger-than-rollout": (
        [*PPO, "--model.num_envs", "2", "--model.num_steps", "8", "--model.batch_size", "64"],
        ["batch_size 64 is larger than a rollout", "<= 16"],
    ),
    "replay-smaller-than-batch": (
        [*DQN, "--model.buffer_size", "16", "--model.batch_size", "64"],
        ["buffer_size"],
    ),
    "trpo-minibatch-larger-than-rollout": (
        [*TRPO, "--model.num_steps", "8", "--model.batch_size", "64"],
        ["batch_size 64 is larger than a rollout", "<= 8"],
    ),
    "trpo-line-search-not-shrinking": (
        [*TRPO, "--model.line_search_shrink", "1.0"],
        ["line_search_shrink must be in [0, 1)"],
    ),
    "trpo-negative-target-kl": ([*TRPO, "--model.target_kl", "-0.01"], ["target_kl must be > 0"]),
    "a2c-rmsprop-alpha-above-one": (
        [*A2C, "--model.rms_prop_alpha", "1.5"],
        ["rms_prop_alpha must be in [0, 1]"],
    ),
    "td3-zero-policy-delay": ([*TD3, "--model.policy_delay", "0"], ["policy_delay must be at least 1"]),
    "td3-three-critics": ([*TD3, "--model.num_critics", "3"], ["num_critics must be 1 (DDPG) or 2"]),
    "sac-tau-above-one": ([*SAC, "--model.tau", "2"], ["tau must be in [0, 1]"]),
    "max-steps-instead-of-env-steps": ([*PPO, "--trainer.max_steps", "10"], ["total_env_steps"]),
}


@pytest.mark.parametrize(("args", "needles"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_a_two_line_error(tmp_path, monkeypatch, capsys, args, needles):
    monkeypatch.chdir(tmp_path)
    code, stderr = leyden_in_process([*FIT, *args], monkeypatch, capsys)
    assert_two_line_error(code, stderr, *needles)


def test_model_help_shows_only_that_models_options(monkeypatch, capsys):
    from leyden_core.cli import main

    monkeypatch.setattr("sys.argv", ["leyden", "fit", "--model", "PPO", "--help"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--model.clip_range" in out and "--model.gae_lambda" in out
    assert "--trainer." not in out and "--data." not in out and len(out.splitlines()) < 120
