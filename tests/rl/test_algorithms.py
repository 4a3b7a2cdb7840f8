"""Every registered RL method: trains a few iterations without NaN, and a resumed run continues."""

import math
import os

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import import_object
from leyden_core.testing import quiet_trainer
from leyden_rl.base import steps_dataloader
from leyden_rl.plugin import plugin

TINY = {
    "PPO": dict(env_id="CartPole-v1", num_envs=2, num_steps=16, batch_size=16, update_epochs=2, hidden_sizes=(16,)),
    "DQN": dict(env_id="CartPole-v1", num_envs=2, learning_starts=32, train_freq=16, gradient_steps=4,
                batch_size=16, hidden_sizes=(16,), n_step=3, dueling=True, buffer_size=1000),
    "SAC": dict(env_id="Pendulum-v1", num_envs=2, learning_starts=32, train_freq=16, gradient_steps=4,
                batch_size=16, hidden_sizes=(16,)),
    "TRPO": dict(env_id="CartPole-v1", num_envs=2, num_steps=16, batch_size=16, critic_epochs=2, cg_steps=4,
                 hidden_sizes=(16,)),
    "A2C": dict(env_id="CartPole-v1", num_envs=2, num_steps=8, hidden_sizes=(16,)),
    "RecurrentPPO": dict(env_id="CartPoleNoVel-v1", num_envs=2, num_steps=16, batch_size=16, update_epochs=2,
                         memory_size=8, hidden_sizes=(8,)),
    "TD3": dict(env_id="Pendulum-v1", num_envs=2, learning_starts=32, train_freq=16, gradient_steps=4,
                batch_size=16, hidden_sizes=(16,)),
    "DDPG": dict(env_id="Pendulum-v1", num_envs=2, learning_starts=32, train_freq=16, gradient_steps=4,
                 batch_size=16, hidden_sizes=(16,)),
    "CURL": dict(env_id="pixels/Pendulum-v1", env_kwargs={"size": 20}, image_size=16, learning_starts=24,
                 batch_size=8, hidden_sizes=(16,), features=8, filters=4),
}  # fmt: skip
MODELS = {
    path.rsplit(".", 1)[1]: path
    for path in plugin.models
    if path.startswith("leyden_rl.")
    and not path.startswith(("leyden_rl.meta.", "leyden_rl.imitation.", "leyden_rl.alphazero."))
}  # imitation methods and AlphaZero are not env-stepping modules (test_imitation_*.py, test_alphazero_*.py)


def _trainer(tmp_path, **kw):
    return quiet_trainer(
        max_epochs=-1,
        default_root_dir=tmp_path, enable_checkpointing=False, **kw,
    )  # fmt: skip


def test_every_registered_method_has_a_tiny_config():
    assert set(MODELS) == set(TINY)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_train_no_nan_and_resume(name, tmp_path):
    cls = import_object(MODELS[name])
    model = cls(total_env_steps=128, seed=0, **TINY[name])
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    trainer = _trainer(tmp_path)
    trainer.fit(model)
    assert model.env_steps == 128 and model.iterations == math.ceil(128 / model.steps_per_iteration)
    params = [p for p in model.parameters() if p.requires_grad]
    assert all(torch.isfinite(p).all() for p in params)
    assert any(not torch.equal(a, b) for a, b in zip(before, params)), "no parameter changed"
    ckpt = tmp_path / "last.ckpt"
    trainer.save_checkpoint(ckpt)

    resumed = cls(total_env_steps=256, seed=0, **TINY[name])
    loaded = torch.load(ckpt, weights_only=False)
    resumed.load_state_dict(loaded["state_dict"])
    resumed_trainer = _trainer(tmp_path)
    resumed_trainer.fit(resumed, ckpt_path=ckpt)
    assert resumed.env_steps == 256, "counters continue from the checkpoint"
    assert resumed.episode_log[: len(model.episode_log)] == model.episode_log
    if hasattr(model, "buffer"):  # replay restored, then extended (frame replay stores frames, not obs)
        field = "frames" if hasattr(model.buffer, "frames") else "obs"
        rows = int(torch.as_tensor(model.buffer.size).max())
        old, new = getattr(model.buffer, field)[:rows], getattr(resumed.buffer, field)[:rows]
        assert torch.equal(new, old) or int(torch.as_tensor(resumed.buffer.size).max()) == resumed.buffer.rows
        transitions = 256 // (resumed.num_envs * resumed.action_repeat)  # per env
        if field == "obs":
            assert resumed.buffer.size == min(resumed.buffer.rows, transitions)
        else:  # one frame slot per transition plus one per episode start
            assert int(resumed.buffer.size.min()) >= min(resumed.buffer.rows, transitions)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_same_seed_same_run(name, tmp_path):
    """Two fits with one seed end with identical weights: warm-up actions, envs and sampling are all seeded."""
    runs = []
    for attempt in range(2):
        model = import_object(MODELS[name])(total_env_steps=128, seed=3, **TINY[name])
        _trainer(tmp_path / str(attempt)).fit(model)
        runs.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*runs))


def test_wrong_action_space_is_a_config_error():
    with pytest.raises(LeydenConfigError, match="Discrete"):
        import_object(MODELS["DQN"])(env_id="Pendulum-v1")
    with pytest.raises(LeydenConfigError, match="Box"):
        import_object(MODELS["SAC"])(env_id="CartPole-v1")


def test_ppo_continuous_actions_learn_shapes(tmp_path):
    model = import_object(MODELS["PPO"])(total_env_steps=64, **{**TINY["PPO"], "env_id": "Pendulum-v1"})
    _trainer(tmp_path).fit(model)
    a = model.act(model.to_tensor(model.observation_space.sample()[None]))
    assert a.shape == (1, 1) and (a.abs() <= 2.0).all()


def test_metrics_logged_at_the_loggers_cadence_and_at_the_end(tmp_path, monkeypatch):
    """Step metrics reach the logger every ``log_every_n_steps`` iterations and on the last one."""
    from lightning.pytorch.loggers import CSVLogger

    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    model = import_object(MODELS["PPO"])(total_env_steps=7 * 32, seed=0, **TINY["PPO"])  # 7 iterations
    logger = CSVLogger(tmp_path, name="csv")
    seen = []

    class RecordCheck(pl.Callback):
        def on_train_batch_end(self, *args) -> None:
            seen.append(os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK"))

    _trainer(tmp_path, logger=logger, log_every_n_steps=3, callbacks=[RecordCheck()]).fit(model)
    assert seen == [None] * 7, "during fit torch's default (cached) CUDA check is used"
    logger.save()
    rows = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    env_steps = sorted(float(r.split(",")[header.index("train/env_steps")]) for r in rows[1:])
    assert env_steps == [3 * 32, 6 * 32, 7 * 32]
    # the fast CUDA check is only for the fit itself: Lightning's setting is back afterwards
    assert os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"


def test_steps_dataloader_is_lazy():
    """A budget of billions of iterations must not build a tensor per iteration before the first one."""
    loader = steps_dataloader(10**10)
    assert len(loader) == 10**10
    assert next(iter(loader)).tolist() == [0]
