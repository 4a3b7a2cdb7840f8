"""The evaluation callback runs deterministic episodes on its own envs and logs videos."""

from unittest import mock

from leyden_core.testing import quiet_trainer
from leyden_rl.callbacks import EvaluationCallback
from leyden_rl.ppo import PPO


def test_evaluation_callback_records_returns_and_video(tmp_path):
    model = PPO(
        num_envs=2, num_steps=16, batch_size=16, update_epochs=1, hidden_sizes=(16,), total_env_steps=64
    )
    cb = EvaluationCallback(
        every_n_env_steps=32, num_episodes=2, num_envs=2, video_every_n=1, max_video_frames=5
    )
    with mock.patch("leyden_rl.callbacks.log_video") as log_video:
        quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path, callbacks=[cb]).fit(model)  # fmt: skip
    assert [s for s, _ in cb.history] == [32, 64]
    assert all(r >= 8 for _, r in cb.history)  # CartPole episodes last at least 8 steps
    frames = log_video.call_args.args[2]
    assert frames.shape[0] == 5 and frames.shape[-1] == 3 and frames.dtype.name == "uint8"
