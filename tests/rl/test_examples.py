"""The CartPole/Pendulum example configs of PPO, DQN, SAC, TRPO, A2C, recurrent PPO, TD3 and DDPG run through ``leyden fit`` (tiny budgets)."""

from pathlib import Path

import pytest
import torch

from leyden_core.cli import main

EXAMPLES = Path(__file__).parents[2] / "examples" / "rl"
COMMON = ["--trainer.enable_progress_bar=false", "--trainer.logger=false", "--trainer.accelerator=cpu"]
TINY = {  # config: (env-step budget, further overrides)
    "ppo_cartpole.yaml": (256, []),
    "dqn_cartpole.yaml": (128, ["--model.init_args.learning_starts=32", "--model.init_args.train_freq=32",
                                "--model.init_args.gradient_steps=2"]),
    "sac_pendulum.yaml": (64, ["--model.init_args.learning_starts=32", "--model.init_args.batch_size=16"]),
    "trpo_cartpole.yaml": (128, ["--model.init_args.num_steps=32", "--model.init_args.batch_size=64",
                                 "--model.init_args.critic_epochs=1"]),
    "a2c_cartpole.yaml": (80, []),
    "a2c_pendulum.yaml": (128, []),
    "trpo_pendulum.yaml": (128, ["--model.init_args.num_steps=32", "--model.init_args.batch_size=64",
                                 "--model.init_args.critic_epochs=1"]),
    "recurrent_ppo_cartpole_novel.yaml": (256, ["--model.init_args.update_epochs=2"]),
    "td3_pendulum.yaml": (64, ["--model.init_args.learning_starts=32", "--model.init_args.batch_size=16"]),
    "ddpg_pendulum.yaml": (64, ["--model.init_args.learning_starts=32", "--model.init_args.batch_size=16"]),
}  # fmt: skip


@pytest.mark.parametrize("config", sorted(TINY))
def test_fit_example_config(config, tmp_path):
    budget, overrides = TINY[config]
    args = ["fit", "--config", str(EXAMPLES / config), f"--trainer.default_root_dir={tmp_path}"]
    main([*args, *COMMON, f"--model.init_args.total_env_steps={budget}", *overrides])
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    assert saved["leyden_rl"]["env_steps"] == budget
    assert all(torch.isfinite(v).all() for v in saved["state_dict"].values() if v.is_floating_point())
