"""NT-Xent computed as each DDP rank does (its own rows against every rank's columns) equals the
loss on the whole batch, with the same gradients; checked in one process by slicing the batch."""

from __future__ import annotations

import pytest
import torch

from leyden_selfsup.losses import nt_xent


@pytest.mark.parametrize("world_size", [2, 4])
def test_local_rows_against_all_columns_average_to_the_whole_batch_loss(world_size: int) -> None:
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(8, 5, generator=gen, requires_grad=True)
    z2 = torch.randn(8, 5, generator=gen, requires_grad=True)
    whole = nt_xent(z1, z2, 0.3)
    (want_z1, want_z2) = torch.autograd.grad(whole, (z1, z2))

    share = len(z1) // world_size
    ranks = [
        nt_xent(z1[r * share : (r + 1) * share], z2[r * share : (r + 1) * share], 0.3, z1, z2, r * share)
        for r in range(world_size)
    ]
    mean = torch.stack(ranks).mean()  # what DDP's gradient averaging amounts to
    got_z1, got_z2 = torch.autograd.grad(mean, (z1, z2))
    assert mean.item() == pytest.approx(whole.item(), abs=1e-6)
    torch.testing.assert_close(got_z1, want_z1)
    torch.testing.assert_close(got_z2, want_z2)
