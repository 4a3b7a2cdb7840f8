"""Losses: values on hand-checkable inputs, and exactness under DDP with real gloo processes.

The DDP test emulates what DDP does: each rank encodes its share of the batch, gathers what the
method gathers, computes the loss, back-propagates, and averages parameter gradients over ranks.
Loss and gradients must equal one process on the concatenated batch.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from leyden_core.distributed import all_reduce_mean, gather, gather_with_grad, local_offset
from leyden_core.testing import run_distributed
from leyden_selfsup.losses import info_nce, info_nce_queue, nt_xent, pseudo_label_loss, symmetric_info_nce

BATCH, DIM, TEMPERATURE = 8, 6, 0.3


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
            loss = nt_xent(gather_with_grad(q1), gather_with_grad(q2), TEMPERATURE)
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


def test_losses_under_ddp_equal_one_process_on_the_whole_batch() -> None:
    _, _, x1, x2, _ = _problem()
    expected = _losses(x1, x2)
    per_rank = run_distributed(_ranked, 2)
    for rank_result in per_rank:
        for name, (loss, grads) in expected.items():
            assert rank_result[name][0] == pytest.approx(loss, abs=1e-5), name
            for got, want in zip(rank_result[name][1], grads, strict=True):
                torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5, msg=name)


def test_nt_xent_matches_its_definition() -> None:
    z1, z2 = torch.randn(4, 3), torch.randn(4, 3)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / 0.5
    total = 0.0
    for i in range(8):
        positive = (i + 4) % 8
        denominator = sum(math.exp(sim[i, j]) for j in range(8) if j != i)
        total += -math.log(math.exp(sim[i, positive]) / denominator)
    assert nt_xent(z1, z2, 0.5).item() == pytest.approx(total / 8, rel=1e-5)


def test_contrastive_losses_are_low_for_matching_views_and_high_for_random() -> None:
    z = torch.randn(16, 32)
    assert nt_xent(z, z, 0.1) < nt_xent(z, torch.randn(16, 32), 0.1)
    assert info_nce(z, z, 0, 0.1) < info_nce(z, torch.randn(16, 32), 0, 0.1)
    queue = torch.randn(64, 32)
    assert info_nce_queue(z, z, queue, 0.1) < 0.1 < info_nce_queue(z, torch.randn(16, 32), queue, 0.1)


def test_nt_xent_rejects_mismatched_views() -> None:
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3), 0.1)


def test_pseudo_label_loss_masks_and_accepts_soft_targets() -> None:
    logits = torch.randn(4, 3)
    hard = torch.tensor([0, 1, 2, 0])
    weights = torch.tensor([1.0, 0.0, 2.0, 0.0])
    expected = (F.cross_entropy(logits[0:1], hard[0:1]) + 2 * F.cross_entropy(logits[2:3], hard[2:3])) / 4
    assert pseudo_label_loss(logits, hard, weights).item() == pytest.approx(expected.item(), rel=1e-5)
    soft = F.one_hot(hard, 3).float()
    assert pseudo_label_loss(logits, soft, weights).item() == pytest.approx(expected.item(), rel=1e-5)
