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

from leyden_selfsup.losses import info_nce, info_nce_queue, nt_xent, pseudo_label_loss

BATCH, DIM, TEMPERATURE = 8, 6, 0.3


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
