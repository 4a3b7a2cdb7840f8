"""ADR: boundary sampling, widening/narrowing by thresholds, limits, stale scores, state round trip,
wrapper feedback."""

from __future__ import annotations

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.testing import quiet_trainer
from leyden_sim.adr import ADR, ADRParam
from leyden_sim.callbacks import ADRCallback
from leyden_sim.physics import PhysicsRandomization


def make_adr(**kwargs):
    params = {"length": ADRParam(nominal=1.0, delta=0.1, limits=(0.5, 1.2)), "mass": ADRParam(delta=0.5)}
    return ADR(
        params,
        **{"boundary_prob": 1.0, "buffer_size": 3, "threshold_low": 10, "threshold_high": 20, **kwargs},
    )


def test_ranges_start_at_nominal_and_boundary_is_pinned():
    adr = make_adr()
    values, boundary = adr.sample(np.random.default_rng(0))
    assert values == {"length": 1.0, "mass": 1.0} and boundary is not None
    assert make_adr(boundary_prob=0.0).sample(np.random.default_rng(0))[1] is None


def test_widen_narrow_clear_and_limits():
    adr = make_adr()
    boundary = ("length", "high")
    assert adr.record(boundary, 25) is None and adr.record(boundary, 25) is None
    assert adr.record(boundary, 25) == "widen" and adr.high["length"] == pytest.approx(1.1)
    assert adr.buffers[boundary] == []  # cleared after a decision
    for _ in range(6):
        adr.record(boundary, 30)
    assert adr.high["length"] == pytest.approx(1.2)  # hard limit
    for _ in range(3):
        adr.record(("length", "low"), 21)
    assert adr.low["length"] == pytest.approx(0.9)
    for _ in range(3):
        adr.record(("length", "low"), 0)
    assert adr.low["length"] == pytest.approx(1.0)  # narrowed
    for _ in range(3):
        adr.record(("length", "low"), 0)
    assert adr.low["length"] == pytest.approx(1.0)  # never past nominal
    for _ in range(3):
        assert adr.record(("mass", "high"), 15) in (None,)  # between thresholds: no change
    assert adr.high["mass"] == 1.0
    metrics = adr.metrics()
    assert metrics["adr/mass/high_score"] == 15 and metrics["adr/length/low_score"] == 0
    assert (metrics["adr/widen"], metrics["adr/narrow"], metrics["adr/hold"]) == (4, 2, 1)


def test_thresholds_are_required():
    """No threshold fits every task's score scale; a silent default would widen on any score."""
    with pytest.raises(TypeError, match="threshold"):
        ADR({"length": ADRParam()})


def test_score_of_a_moved_boundary_is_dropped():
    adr = make_adr(buffer_size=1)
    boundary = ("length", "high")
    ran_at = adr.value(boundary)
    assert adr.record(boundary, 25, ran_at) == "widen"  # boundary now 1.1
    assert adr.record(boundary, 0, ran_at) is None  # still ran at 1.0: says nothing about 1.1
    assert adr.high["length"] == pytest.approx(1.1) and adr.counts["stale"] == 1
    assert adr.record(boundary, 0, adr.value(boundary)) == "narrow"


def test_boundary_value_is_used_and_others_are_in_range():
    adr = make_adr()
    adr.low["mass"], adr.high["mass"], adr.high["length"] = 0.5, 2.0, 1.2
    rng = np.random.default_rng(1)
    for _ in range(20):
        values, (name, side) = adr.sample(rng)
        assert values[name] == adr.value((name, side))
        assert 0.5 <= values["mass"] <= 2.0 and 1.0 <= values["length"] <= 1.2


def test_state_round_trip():
    adr = make_adr()
    for _ in range(3):
        adr.record(("mass", "high"), 100)
    adr.record(("length", "low"), 5)
    restored = make_adr()
    restored.load_state_dict(adr.state_dict())
    assert restored.high == adr.high and restored.low == adr.low and restored.buffers == adr.buffers
    assert restored.metrics() == adr.metrics()  # decision counts and latest scores too
    with pytest.raises(LeydenConfigError):
        ADR({"gravity": ADRParam()}, threshold_low=1, threshold_high=2).load_state_dict(adr.state_dict())


def test_wrapper_reports_boundary_episodes_to_adr():
    adr = ADR({"length": ADRParam(delta=0.2, limits=(0.2, 3.0))}, 1.0, 2, threshold_low=5, threshold_high=8)
    env = PhysicsRandomization(gym.make("CartPole-v1"), adr=adr)
    env.reset(seed=0)
    widened = False
    for _ in range(40):  # random CartPole episodes score ~10-40 ≥ t_H = 8: ranges widen
        _, info = env.reset()
        assert "adr_boundary" in info and info["physics"]["length"] == pytest.approx(
            0.5 * adr.value(info["adr_boundary"])
        )
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
        widened |= adr.high["length"] > 1.0 or adr.low["length"] < 1.0
    assert widened
    with pytest.raises(LeydenConfigError):
        ADR({"x": ADRParam()}, threshold_low=5, threshold_high=1)


class _Progress(gym.Env):
    """Three steps whose rewards are the fraction of a task done: 1, 1, then 0.25 (undone at the end)."""

    physics_parameters = ("mass",)
    observation_space = gym.spaces.Box(0.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self) -> None:
        self.mass, self.t = 1.0, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), (0.25 if self.t == 3 else 1.0), False, self.t == 3, {}


@pytest.mark.parametrize(("score", "expected"), [("return", 2.25), ("final_reward", 0.25)])
def test_wrapper_scores_by_return_or_final_reward(score, expected):
    adr = ADR({"mass": ADRParam()}, 1.0, 5, threshold_low=0.5, threshold_high=2.0)
    env = PhysicsRandomization(_Progress(), adr=adr, score=score)
    _, info = env.reset(seed=0)
    for _ in range(3):
        env.step(0)
    assert adr.buffers[info["adr_boundary"]] == [expected]
    with pytest.raises(LeydenConfigError, match="unknown score"):
        PhysicsRandomization(_Progress(), adr=adr, score="success")


@pytest.mark.parametrize("mode", [gym.vector.AutoresetMode.SAME_STEP, gym.vector.AutoresetMode.NEXT_STEP])
def test_vector_env_autoreset_reports_every_boundary_episode(mode):
    """Envs sharing one ADR inside a vector env (as an RL learner steps them): every finished episode's
    full return reaches ``ADR.record``, whichever autoreset mode the vector env uses."""
    adr = ADR({"length": ADRParam(delta=0.2)}, 1.0, buffer_size=10_000, threshold_low=0, threshold_high=1e9)
    envs = gym.vector.SyncVectorEnv(
        [lambda: PhysicsRandomization(gym.make("CartPole-v1"), adr=adr)] * 3, autoreset_mode=mode
    )
    envs.reset(seed=0)
    running, finished, skip = np.zeros(3), [], np.zeros(3, bool)
    for _ in range(300):
        _, reward, terminated, truncated, _ = envs.step(envs.action_space.sample())
        running += reward * ~skip  # NEXT_STEP: the step after an episode's end is its reset, not a step
        done = terminated | truncated
        finished += running[done].tolist()
        running[done] = 0.0
        skip = done if mode == gym.vector.AutoresetMode.NEXT_STEP else np.zeros(3, bool)
    recorded = sum(adr.buffers.values(), [])
    assert len(finished) > 10 and sorted(recorded) == sorted(finished)


def test_vector_env_in_flight_episodes_do_not_score_a_moved_boundary():
    """Every boundary decision moves the range at once (buffer 1, always widen), so the envs whose
    episodes were running at the old boundary must not feed the new one."""
    adr = ADR({"length": ADRParam(delta=0.01, limits=(0.2, 5.0))}, 1.0, 1, threshold_low=-1, threshold_high=0)
    envs = gym.vector.SyncVectorEnv([lambda: PhysicsRandomization(gym.make("CartPole-v1"), adr=adr)] * 4)
    envs.reset(seed=0)
    finished = 0
    for _ in range(200):
        _, _, terminated, truncated, _ = envs.step(envs.action_space.sample())
        finished += int((terminated | truncated).sum())
    assert adr.counts["stale"] > 0
    assert adr.counts["widen"] + adr.counts["stale"] == finished
    assert adr.high["length"] - adr.low["length"] == pytest.approx(0.01 * adr.counts["widen"])


class _Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(1, 1)

    def training_step(self, batch, batch_idx):
        return self.layer(batch[0]).sum()

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=2)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_callback_checkpoints_and_logs_ranges(tmp_path):
    adr = make_adr()
    adr.high["mass"] = 2.5
    trainer = quiet_trainer(
        max_steps=2,
        callbacks=[ADRCallback(adr)],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
    )
    trainer.fit(_Tiny())
    assert float(trainer.callback_metrics["adr/mass/high"]) == 2.5
    trainer.save_checkpoint(tmp_path / "a.ckpt")
    fresh = make_adr()
    resumed = quiet_trainer(
        max_steps=3,
        callbacks=[ADRCallback(fresh)],
        default_root_dir=tmp_path,
        enable_checkpointing=False,
    )
    resumed.fit(_Tiny(), ckpt_path=tmp_path / "a.ckpt")
    assert fresh.high["mass"] == 2.5
