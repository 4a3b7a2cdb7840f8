"""Frame replay: stacks rebuilt from single frames equal the env's stacks, across episode ends and ring wrap."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from leyden_rl.frame_replay import FrameReplay
from leyden_rl.pixels import StackFrames


class CounterFrames(gym.Env):
    """Each frame encodes a unique id (env, counter) in its pixels; episodes end at random lengths."""

    observation_space = gym.spaces.Box(0, 255, (3, 2, 2), np.uint8)
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, env_index: int) -> None:
        self.env_index, self.counter = env_index, 0

    def _frame(self) -> np.ndarray:
        self.counter += 1
        f = np.zeros((3, 2, 2), np.uint8)
        f[0, 0, 0], f[0, 0, 1], f[0, 1, 0] = self.counter % 256, self.counter // 256, self.env_index
        return f

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self._frame(), {}

    def step(self, action):
        end = self.np_random.random() < 0.15
        terminated = end and self.np_random.random() < 0.5
        return self._frame(), float(self.counter), terminated, end and not terminated, {}


def _collect(replay: FrameReplay, steps: int, k: int = 3) -> set[tuple[bytes, bytes, float, bool]]:
    envs = SyncVectorEnv(
        [lambda i=i: StackFrames(CounterFrames(i), k) for i in range(2)],
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    obs, _ = envs.reset(seed=[0, 1])
    truth = set()
    for _ in range(steps):
        action = np.zeros((2, 1), np.float32)
        next_obs, reward, term, trunc, info = envs.step(action)
        real_next = next_obs.copy()
        if "_final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                real_next[i] = info["final_obs"][i]
        for i in range(2):
            truth.add((obs[i].tobytes(), real_next[i].tobytes(), float(reward[i]), bool(term[i])))
        replay.add(
            torch.from_numpy(obs), torch.zeros(2, 1), torch.from_numpy(reward).float(),
            torch.from_numpy(real_next), torch.from_numpy(term), torch.from_numpy(trunc),
        )  # fmt: skip
        obs = next_obs
    return truth


@pytest.mark.parametrize("steps", [40, 400])  # 400 steps wrap the 100-slot rings several times
def test_rebuilt_stacks_equal_env_stacks(steps):
    replay = FrameReplay(200, 2, (9, 2, 2), 3, (1,))
    truth = _collect(replay, steps)
    batch = replay.sample(512, gamma=0.9, generator=torch.Generator().manual_seed(0))
    got = {
        (o.numpy().tobytes(), n.numpy().tobytes(), float(r), bool(d == 0))
        for o, n, r, d in zip(batch.obs, batch.next_obs, batch.rewards, batch.discount)
    }
    assert got <= truth, "every sampled transition is one the env produced"
    if steps == 40:  # no wrap: sampling reaches (nearly) every stored transition
        assert len(got) >= 0.9 * len(truth)
    assert batch.obs.shape == (512, 9, 2, 2) and batch.obs.dtype == torch.uint8


def test_checkpoint_round_trip_and_memory():
    replay = FrameReplay(200, 2, (9, 2, 2), 3, (1,))
    truth = _collect(replay, 150)
    restored = FrameReplay(200, 2, (9, 2, 2), 3, (1,))
    restored.load_state_dict(replay.state_dict())
    assert all(isinstance(v, torch.Tensor) for v in replay.state_dict().values())
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    a, b = replay.sample(64, 0.99, generator=g1), restored.sample(64, 0.99, generator=g2)
    assert torch.equal(a.obs, b.obs) and torch.equal(a.next_obs, b.next_obs)
    assert {(o.numpy().tobytes(), n.numpy().tobytes()) for o, n in zip(b.obs, b.next_obs)} <= {
        (o, n) for o, n, _, _ in truth
    }
    big = FrameReplay(100_000, 1, (9, 100, 100), 3, (6,))  # lazily zeroed pages: allocation is cheap
    naive = 2 * 100_000 * 9 * 100 * 100  # obs + next_obs stacks, uint8
    assert big.nbytes() <= naive / 5.9
