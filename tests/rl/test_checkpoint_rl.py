"""RL runs and checkpoints: ``last.ckpt`` every N env steps and current after a resume, a checkpoint of
another method refused, divergence stopped, and a missing ``video`` extra costing only the videos."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.testing import quiet_trainer
from leyden_rl.callbacks import EvaluationCallback
from leyden_rl.ppo import PPO
from tests.core.cli_runner import leyden, leyden_completed

REPO = Path(__file__).resolve().parents[2]
PROBE_ENV = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
COMMON = [
    "--trainer.accelerator",
    "cpu",
    "--trainer.enable_progress_bar",
    "false",
    "--trainer.max_epochs",
    "-1",
]
PPO_TINY = [
    "--model", "PPO", "--model.num_envs", "4", "--model.num_steps", "32", "--model.batch_size", "64",
    "--model.update_epochs", "1", *COMMON,
]  # fmt: skip


class SignalAtEnvSteps(pl.Callback):
    """Send this process ``signum`` once the module has collected ``env_steps`` environment steps."""

    def __init__(self, env_steps: int, signum: int = int(signal.SIGTERM)) -> None:
        self.env_steps, self.signum, self.sent = env_steps, signum, False

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not self.sent and pl_module.env_steps >= self.env_steps:
            self.sent = True
            os.kill(os.getpid(), self.signum)


def _rl_state(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["leyden_rl"]


def test_sigterm_then_resume_leaves_last_ckpt_at_the_end_of_the_run(tmp_path, monkeypatch, capsys):
    args = [*PPO_TINY, "--model.total_env_steps", "1024"]
    stopped = leyden(
        "fit", *args, "--trainer.callbacks+=tests.rl.test_checkpoint_rl.SignalAtEnvSteps",
        "--trainer.callbacks.env_steps=384", cwd=tmp_path, extra_env=PROBE_ENV,
    )  # fmt: skip
    assert stopped.returncode == 143, stopped.stderr[-3000:]
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert _rl_state(last)["env_steps"] == 384
    resumed = leyden_completed(["fit", *args, "--ckpt_path", "last"], tmp_path, monkeypatch, capsys)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _rl_state(last)["env_steps"] == 1024, "last.ckpt is the newest state"
    names = [p.name for p in last.parent.iterdir()]
    assert "last.ckpt" in names and not any(n.startswith(("last-v", ".")) for n in names), names


def test_last_ckpt_is_written_every_n_env_steps_so_a_sigkill_loses_at_most_n(tmp_path):
    killed = leyden(
        "fit", *PPO_TINY, "--model.total_env_steps", "4096",
        "--trainer.callbacks+=leyden_core.checkpointing.LeydenCheckpoint",
        "--trainer.callbacks.every_n_env_steps=512",
        "--trainer.callbacks+=tests.rl.test_checkpoint_rl.SignalAtEnvSteps",
        "--trainer.callbacks.env_steps=1280", f"--trainer.callbacks.signum={int(signal.SIGKILL)}",
        cwd=tmp_path, extra_env=PROBE_ENV,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert _rl_state(tmp_path / "checkpoints" / "last.ckpt")["env_steps"] == 1024


def test_ppo_at_lr_1e6_stops_with_a_divergence_error(tmp_path):
    result = leyden(
        "fit", *PPO_TINY, "--model.total_env_steps", "4096", "--model.learning_rate", "1e6", cwd=tmp_path
    )  # fmt: skip
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    problem, fix = result.stderr.strip().splitlines()[-2:]
    assert problem.startswith("leyden: error: training diverged at step ") and ", env step " in problem
    assert "learning rate (1e+06) is likely too high" in problem
    assert fix == "  fix: lower the learning rate; the checkpoints written before this step are kept"
    assert not (tmp_path / "checkpoints" / "last.ckpt").exists(), "no checkpoint of the diverged weights"


# ------------------------------------------------------------------ another method's checkpoint
@pytest.fixture
def ppo_checkpoint(tmp_path, monkeypatch, capsys) -> Path:
    trained = leyden_completed(
        ["fit", *PPO_TINY, "--model.total_env_steps", "256"], tmp_path, monkeypatch, capsys
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    return tmp_path / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("how", ["path", "last"])
def test_dqn_config_with_a_ppo_checkpoint_is_refused(ppo_checkpoint, tmp_path, monkeypatch, capsys, how):
    before = ppo_checkpoint.read_bytes()
    ckpt = str(ppo_checkpoint) if how == "path" else "last"
    args = ["fit", "--model", "DQN", "--model.total_env_steps", "256", *COMMON, "--ckpt_path", ckpt]
    result = leyden_completed(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 2, result.stderr[-3000:]
    problem, fix = result.stderr.strip().splitlines()[-2:]
    assert "is a PPO checkpoint" in problem and "the configured model is DQN" in problem
    assert "--model PPO" in fix
    assert ppo_checkpoint.read_bytes() == before


def test_simclr_config_with_a_ppo_checkpoint_is_refused(ppo_checkpoint, tmp_path, monkeypatch, capsys):
    """Crosses plugins (needs leyden-selfsup too): skipped in the rl-only nox session."""
    pytest.importorskip("leyden_selfsup")
    args = [
        "fit", "--model", "SimCLR", "--model.backbone", "leyden_tiny_cnn", "--model.image_size", "8",
        "--data", "DigitsDataModule", "--data.image_size", "8", *COMMON, "--ckpt_path", str(ppo_checkpoint),
    ]  # fmt: skip
    result = leyden_completed(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "is a PPO checkpoint" in result.stderr and "the configured model is SimCLR" in result.stderr


# ------------------------------------------------------------------ optional extras
def test_videos_without_the_video_extra_warn_once_and_training_goes_on(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "moviepy", None)  # as if `leyden-rl[video]` were not installed
    recorded: list[bool] = []
    callback = EvaluationCallback(every_n_env_steps=128, num_episodes=1, num_envs=1, video_every_n=1)
    original = callback.evaluate
    monkeypatch.setattr(callback, "evaluate", lambda m, record=False: recorded.append(record) or original(m))
    model = PPO(num_envs=4, num_steps=32, batch_size=64, update_epochs=1, total_env_steps=256)
    trainer = quiet_trainer(
        max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path, callbacks=[callback]
    )
    with pytest.warns(UserWarning, match=r"no evaluation videos: moviepy not installed.*leyden-rl\[video\]"):
        trainer.fit(model)
    assert model.env_steps == 256 and recorded == [False, False], "evaluated twice, recorded nothing"
