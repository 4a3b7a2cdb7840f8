"""RL progress is counted in env steps: the bar shows env steps out of ``total_env_steps``, and
``--trainer.max_steps`` (optimizer steps) is refused with the option that sets the budget."""

from __future__ import annotations

from functools import partial

import pytest

from leyden_core.errors import LeydenConfigError
from leyden_core.progress import training_progress
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.gru import GRUPolicy
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits
from leyden_rl.ppo import PPO
from tests.core.test_console import assert_clean, run_like_a_user


def tiny_ppo(**kwargs) -> PPO:
    return PPO(env_id="CartPole-v1", num_envs=2, num_steps=8, batch_size=8, update_epochs=1, **kwargs)


def tiny_rl2(**kwargs) -> RL2:
    return RL2(BernoulliBandits(3, 5), partial(GRUPolicy, hidden_size=8), num_trials=4, **kwargs)


@pytest.mark.parametrize("make", [tiny_ppo, tiny_rl2], ids=["PPO", "RL2"])
def test_module_reports_env_steps_out_of_the_budget(make) -> None:
    model = make(total_env_steps=64)
    model.env_steps = 48
    progress = training_progress(model)
    assert (progress.done, progress.total, progress.unit) == (48, 64, "env steps")


@pytest.mark.parametrize("make", [tiny_ppo, tiny_rl2], ids=["PPO", "RL2"])
def test_trainer_max_steps_is_refused_with_the_fix(make, tmp_path) -> None:
    trainer = quiet_trainer(max_steps=5, default_root_dir=tmp_path, enable_checkpointing=False)
    with pytest.raises(LeydenConfigError, match="optimizer steps") as error:
        trainer.fit(make(total_env_steps=64))
    assert error.value.fix.startswith("use --model.total_env_steps 5")


def test_max_steps_error_is_two_lines_from_the_cli(tmp_path) -> None:
    from tests.core.cli_runner import leyden

    result = leyden("fit", "--config", "ppo_cartpole", "--trainer.max_steps", "100", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-2:] == [
        "leyden: error: --trainer.max_steps counts optimizer steps; PPO trains for env steps",
        "  fix: use --model.total_env_steps 100 and leave trainer.max_steps unset",
    ]


def test_ppo_example_shows_env_steps_and_a_clean_console(tmp_path) -> None:
    output = run_like_a_user(
        "fit",
        "--config",
        "ppo_cartpole",
        "--model.total_env_steps",
        "512",
        "--trainer.callbacks=[]",
        cwd=tmp_path,
    )
    assert_clean(output)
    assert "env steps" in output and "512/512" in output and "Epoch 0/-2" not in output
    assert "final metrics (step" in output and "checkpoints:" in output
    assert "model prefers 1" in output  # on-policy methods run one torch thread per process by default


def test_off_policy_actor_critics_use_every_idle_core_on_policy_methods_one() -> None:
    from leyden_core.threads import choose_num_threads
    from leyden_rl.dqn import DQN
    from leyden_rl.ppo import PPO
    from leyden_rl.sac import SAC
    from leyden_rl.td3 import TD3

    idle_two_cores = {m: choose_num_threads(2, 1, m.preferred_num_threads) for m in (SAC, TD3, PPO, DQN)}
    assert idle_two_cores == {SAC: 2, TD3: 2, PPO: 1, DQN: 1}
    assert choose_num_threads(2, 2, SAC.preferred_num_threads) == 1  # 2-process DDP: one core each
