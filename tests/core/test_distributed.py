"""Cross-rank gathering with gradients: equal to one process on the concatenated batch."""

from __future__ import annotations

import torch

from leyden_core import distributed
from leyden_core.testing import run_distributed

GLOBAL_BATCH = torch.randn(8, 5, generator=torch.Generator().manual_seed(0))


def _pairwise_loss(x: torch.Tensor) -> torch.Tensor:
    """A loss coupling every sample with every other one, like contrastive losses do."""
    return torch.logsumexp(x @ x.T, dim=1).mean()


def _per_rank(rank: int, world_size: int) -> tuple[float, torch.Tensor]:
    local = GLOBAL_BATCH.chunk(world_size)[rank].clone().requires_grad_(True)
    everyone = distributed.gather_with_grad(local)
    offset = distributed.local_offset(len(local))
    assert torch.equal(everyone[offset : offset + len(local)], local)
    # each rank owns the loss terms of its own rows; DDP averages gradients over ranks
    loss = torch.logsumexp(everyone[offset : offset + len(local)] @ everyone.T, dim=1).mean()
    loss.backward()
    mean_loss = distributed.all_reduce_mean(loss.detach().clone())
    return float(mean_loss), local.grad


def test_gather_with_grad_matches_single_process():
    results = run_distributed(_per_rank, 2)
    single = GLOBAL_BATCH.clone().requires_grad_(True)
    loss = _pairwise_loss(single)
    loss.backward()
    assert abs(results[0][0] - loss.item()) < 1e-5 and results[0][0] == results[1][0]
    # DDP averages each rank's gradient; compare the average of rank gradients to the single-process one
    grads = torch.cat([r[1] for r in results]) / 2
    torch.testing.assert_close(grads, single.grad, atol=1e-5, rtol=1e-5)


def test_single_process_helpers_are_identities():
    x = torch.randn(3, 2)
    assert (
        distributed.gather_with_grad(x) is x
        and distributed.gather_uneven(x) is x
        and distributed.world_size() == 1
        and distributed.rank() == 0
    )


def _uneven_rows(rank: int, world_size: int) -> torch.Tensor:
    rows = torch.arange(3 + 2 * rank, dtype=torch.int64)[:, None].repeat(1, 2) + 100 * rank
    return distributed.gather_uneven(rows)


def test_gather_uneven_keeps_every_rank_rows_in_rank_order():
    results = run_distributed(_uneven_rows, 2)
    expected = torch.cat([torch.arange(3)[:, None].repeat(1, 2), torch.arange(5)[:, None].repeat(1, 2) + 100])
    assert torch.equal(results[0], expected) and torch.equal(results[1], expected)


def _rank_seed_of_7(rank: int, world_size: int) -> int:
    return distributed.rank_seed(7)


def test_rank_seed_differs_per_rank_and_is_the_seed_alone():
    assert distributed.rank_seed(7) == 7  # one process: the run's seed itself
    assert run_distributed(_rank_seed_of_7, 2) == [7, 1007]
