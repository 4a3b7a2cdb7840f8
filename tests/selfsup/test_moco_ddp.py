"""MoCo v2 under two gloo processes: shuffle-BN hands each key back to its rank, and the queue
holds every rank's keys, identically on every rank."""

from __future__ import annotations

import torch

from leyden_core.distributed import gather
from leyden_core.testing import run_distributed
from leyden_selfsup.moco_v2 import MoCoV2


def _keys_and_queue(rank: int, world_size: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)  # same model on every rank
    model = MoCoV2(backbone="leyden_tiny_cnn", image_size=16, queue_size=12, projection_dim=8).eval()
    images = torch.rand(4 * world_size, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    mine = images[rank * 4 : (rank + 1) * 4]
    torch.manual_seed(10 + rank)  # different permutation draws per rank: rank 0's must win
    shuffled = model.encode_keys(mine)
    model.enqueue(gather(shuffled))
    return {
        "keys": shuffled,
        "plain": model.key_net(mine, "projection"),
        "queue": model.queue.clone(),
        "ptr": model.queue_ptr.clone(),
    }


def test_shuffled_keys_return_to_their_rank_and_queue_holds_all_ranks() -> None:
    ranks = run_distributed(_keys_and_queue, 2)
    for result in ranks:
        # in eval mode BatchNorm uses running statistics, so shuffling must not change any key
        torch.testing.assert_close(result["keys"], result["plain"], atol=1e-5, rtol=1e-5)
        assert result["ptr"].item() == 8
    torch.testing.assert_close(ranks[0]["queue"], ranks[1]["queue"])
    all_keys = torch.nn.functional.normalize(torch.cat([r["plain"] for r in ranks]), dim=1)
    torch.testing.assert_close(ranks[0]["queue"][:8], all_keys, atol=1e-5, rtol=1e-5)
