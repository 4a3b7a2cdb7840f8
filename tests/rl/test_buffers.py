"""Replay buffer: uint8 storage, n-step sampling within episodes, checkpoint round trip."""

import torch

from leyden_rl.buffers import ReplayBuffer


def _filled(capacity=20, num_envs=2, steps=15):
    buf = ReplayBuffer(capacity, num_envs, (1, 2, 2), torch.uint8, (), torch.long)
    for t in range(steps):
        obs = torch.full((num_envs, 1, 2, 2), t, dtype=torch.uint8)
        buf.add(obs, torch.zeros(num_envs, dtype=torch.long), torch.ones(num_envs), obs + 1,
                torch.tensor([t % 4 == 3] * num_envs), torch.zeros(num_envs, dtype=torch.bool))  # fmt: skip
    return buf


def test_uint8_storage_and_wraparound():
    buf = _filled()
    assert buf.obs.dtype == torch.uint8 and buf.rows == 10 and buf.size == 10 and len(buf) == 20
    assert buf.pos == 5  # 15 rows written into 10
    b = buf.sample(64, gamma=0.9)
    assert b.obs.dtype == torch.uint8
    assert torch.equal(b.next_obs.long(), b.obs.long() + 1)
    assert (b.obs.long() >= 5).all()  # rows 0..4 were overwritten


def test_n_step_sampling_respects_terminals():
    buf = _filled()
    b = buf.sample(256, gamma=0.5, n_step=3, generator=torch.Generator().manual_seed(0))
    t = b.obs[:, 0, 0, 0].long()
    # episodes end at t % 4 == 3: the window stops there with discount 0
    ends_inside = (3 - t % 4) < 3
    assert (b.discount[ends_inside] == 0).all()
    assert torch.allclose(b.discount[~ends_inside], torch.tensor(0.125))
    assert torch.equal(b.next_obs[~ends_inside, 0, 0, 0].long(), t[~ends_inside] + 3)
    assert (t <= 12).all()  # never crosses the write head


def test_state_dict_round_trip():
    buf = _filled(steps=7)
    other = ReplayBuffer(20, 2, (1, 2, 2), torch.uint8, (), torch.long)
    other.load_state_dict(buf.state_dict())
    assert other.size == 7 and other.pos == 7
    assert torch.equal(other.obs[:7], buf.obs[:7]) and torch.equal(other.terminated, buf.terminated)
