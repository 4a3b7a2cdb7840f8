"""Everything that must be exact across ranks, checked in ONE pair of gloo processes (spawning is
the slow part): the contrastive losses and their gradients, the probe and kNN reduces, MoCo v2's
shuffle-BN and queue, and Noisy Student's per-rank labeled batches.

The loss check emulates what DDP does: each rank encodes its share of the batch, gathers what the
method gathers, computes the loss, back-propagates, and averages parameter gradients over ranks.
Loss and gradients must equal one process on the concatenated batch (to 1e-5).
"""

from __future__ import annotations

import pytest
import torch

from leyden_core.distributed import all_reduce_mean, gather, gather_with_grad, local_offset
from leyden_core.testing import run_distributed
from leyden_selfsup.evaluation import KNNAccuracy, OnlineLinearProbe
from leyden_selfsup.losses import info_nce_queue, nt_xent, symmetric_info_nce
from leyden_selfsup.moco_v2 import MoCoV2
from leyden_selfsup.noisy_student import endless_labeled_batches

from .test_evaluation import _brute_force_knn, _data

BATCH, DIM, TEMPERATURE = 8, 6, 0.3
pytestmark = pytest.mark.ddp


def _problem() -> tuple[torch.nn.Linear, torch.nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Same encoders and data on every process: an online and a key encoder, two views, a queue."""
    gen = torch.Generator().manual_seed(0)
    online, key = torch.nn.Linear(5, DIM), torch.nn.Linear(5, DIM)
    with torch.no_grad():
        for p in (*online.parameters(), *key.parameters()):
            p.copy_(torch.randn(p.shape, generator=gen))
    x1, x2 = torch.randn(BATCH, 5, generator=gen), torch.randn(BATCH, 5, generator=gen)
    queue = torch.randn(16, DIM, generator=gen)
    return online, key, x1, x2, queue


def _losses(x1: torch.Tensor, x2: torch.Tensor) -> dict[str, tuple[float, list[torch.Tensor]]]:
    """Every contrastive loss as a method computes it (gathering first), with averaged gradients."""
    online, key, _, _, queue = _problem()
    results = {}
    for name in ("nt_xent", "info_nce_queue", "symmetric_info_nce"):
        online.zero_grad()
        q1, q2 = online(x1), online(x2)
        with torch.no_grad():
            k1, k2 = key(x1), key(x2)
        if name == "nt_xent":
            all_q1, all_q2 = gather_with_grad(q1), gather_with_grad(q2)
            loss = nt_xent(q1, q2, TEMPERATURE, all_q1, all_q2, local_offset(len(x1)))
        elif name == "info_nce_queue":
            loss = info_nce_queue(q1, k2, queue, TEMPERATURE)
        else:
            loss = symmetric_info_nce(q1, q2, gather(k1), gather(k2), local_offset(len(x1)), TEMPERATURE)
        loss.backward()
        grads = [all_reduce_mean(p.grad.clone()) for p in online.parameters()]  # what DDP does
        results[name] = (float(all_reduce_mean(loss.detach().clone())), grads)
    return results


def _ranked(rank: int, world_size: int) -> dict[str, tuple[float, list[torch.Tensor]]]:
    _, _, x1, x2, _ = _problem()
    share = BATCH // world_size
    mine = slice(rank * share, (rank + 1) * share)
    return _losses(x1[mine], x2[mine])


def test_losses_under_ddp_equal_one_process_on_the_whole_batch(per_rank) -> None:
    _, _, x1, x2, _ = _problem()
    expected = _losses(x1, x2)
    for rank_result in (r["losses"] for r in per_rank):
        for name, (loss, grads) in expected.items():
            assert rank_result[name][0] == pytest.approx(loss, abs=1e-5), name
            for got, want in zip(rank_result[name][1], grads, strict=True):
                torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=name)


def _ranked_metrics(rank: int, world_size: int) -> tuple[float, float]:
    bank, bank_labels, queries, query_labels = _data()
    knn = KNNAccuracy(k=5, temperature=0.2, num_classes=3)
    knn.update(bank[rank::world_size], bank_labels[rank::world_size], train=True)
    knn.update(queries[rank::world_size], query_labels[rank::world_size], train=False)
    torch.manual_seed(0)
    probe = OnlineLinearProbe(8, 3).eval()
    labels = query_labels.clone()
    labels[::5] = -1
    probe.validate(queries[rank::world_size], labels[rank::world_size])
    return knn.compute().item(), probe.val_accuracy.compute().item()


def test_knn_and_probe_accuracy_reduce_over_two_processes(per_rank) -> None:
    bank, bank_labels, queries, query_labels = _data()
    expected_knn = _brute_force_knn(bank, bank_labels, queries, query_labels, 5, 0.2)
    torch.manual_seed(0)
    probe = OnlineLinearProbe(8, 3).eval()
    labels = query_labels.clone()
    labels[::5] = -1
    probe.validate(queries, labels)
    expected_probe = probe.val_accuracy.compute().item()
    for knn_acc, probe_acc in (r["metrics"] for r in per_rank):
        assert knn_acc == pytest.approx(expected_knn)
        assert probe_acc == pytest.approx(expected_probe)


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


def test_moco_shuffled_keys_return_to_their_rank_and_queue_holds_all_ranks(per_rank) -> None:
    ranks = [r["moco"] for r in per_rank]
    for result in ranks:
        # in eval mode BatchNorm uses running statistics, so shuffling must not change any key
        torch.testing.assert_close(result["keys"], result["plain"], atol=1e-5, rtol=1e-5)
        assert result["ptr"].item() == 8
    torch.testing.assert_close(ranks[0]["queue"], ranks[1]["queue"])
    all_keys = torch.nn.functional.normalize(torch.cat([r["plain"] for r in ranks]), dim=1)
    torch.testing.assert_close(ranks[0]["queue"][:8], all_keys, atol=1e-5, rtol=1e-5)


def _labeled_draws(rank: int, world_size: int) -> list[int]:
    torch.manual_seed(0)  # the same seed on every rank, as seed_everything gives under DDP
    labeled = torch.utils.data.TensorDataset(torch.arange(20), torch.zeros(20, dtype=torch.long))
    batches = endless_labeled_batches(labeled, batch_size=4)
    return [i for _ in range(25) for i in next(batches)[0].tolist()]


def test_noisy_student_ranks_draw_disjoint_labeled_samples_covering_the_set(per_rank) -> None:
    draws = [set(r["labeled"]) for r in per_rank]
    assert not draws[0] & draws[1]
    assert draws[0] | draws[1] == set(range(20))  # 100 draws from each 10-sample shard cover it


def _everything(rank: int, world_size: int) -> dict:
    return {
        "losses": _ranked(rank, world_size),
        "metrics": _ranked_metrics(rank, world_size),
        "moco": _keys_and_queue(rank, world_size),
        "labeled": _labeled_draws(rank, world_size),
    }


@pytest.fixture(scope="module")
def per_rank() -> list[dict]:
    return run_distributed(_everything, 2)
