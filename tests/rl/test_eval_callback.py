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


def test_evaluation_callback_carries_a_recurrent_policys_memory(tmp_path):
    from leyden_rl.recurrent_ppo import RecurrentPPO

    model = RecurrentPPO(
        env_id="CartPoleNoVel-v1", num_envs=2, num_steps=16, batch_size=16, update_epochs=1,
        memory_size=8, hidden_sizes=(8,), total_env_steps=32,
    )  # fmt: skip
    calls = []
    act_with_memory = model.act_with_memory

    def spy(obs, memory, starts):
        calls.append((memory.clone(), starts.clone()))
        return act_with_memory(obs, memory, starts)

    model.act_with_memory = spy
    cb = EvaluationCallback(every_n_env_steps=32, num_episodes=3, num_envs=2)
    quiet_trainer(max_epochs=-1, enable_checkpointing=False, default_root_dir=tmp_path, callbacks=[cb]).fit(model)  # fmt: skip
    assert len(cb.history) == 1 and cb.history[0][1] >= 8
    (first_memory, first_starts), (second_memory, second_starts) = calls[0], calls[1]
    assert first_starts.all() and not first_memory.any()  # every env starts an episode with no memory
    assert not second_starts.any() and second_memory.abs().sum() > 0  # then carries what it saw
    assert sum(int(starts.sum()) for _, starts in calls[1:]) >= 2  # restarts where the first two ended
