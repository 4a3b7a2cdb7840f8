"""The one weight-averaging update shared by target networks and momentum encoders."""

import pytest
import torch

from leyden_core.ema import polyak_update


def test_polyak_update_interpolates_and_copies():
    target, online = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)
    before = target.weight.detach().clone()
    polyak_update(target, online, 0.25)
    torch.testing.assert_close(target.weight, 0.75 * before + 0.25 * online.weight.detach())
    polyak_update(target, online, 1.0)
    assert torch.equal(target.weight, online.weight)


def test_polyak_update_rejects_mismatched_networks():
    with pytest.raises(ValueError, match="parameters"):
        polyak_update(
            torch.nn.Linear(3, 2), torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 2)), 0.1
        )
