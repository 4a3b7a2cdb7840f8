"""BYOL's, DINO's, Barlow Twins', VICReg's, MAE's and FixMatch's losses against their papers' definitions,
written out plainly (loops, BatchNorm, masks) on small random inputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from leyden_selfsup.losses import (
    barlow_twins_loss,
    dino_loss,
    fixmatch_unlabeled_loss,
    masked_patch_loss,
    normalized_regression,
    vicreg_loss,
)


def _off_diagonal_mask(d: int) -> torch.Tensor:
    return ~torch.eye(d, dtype=torch.bool)


def test_normalized_regression_is_squared_distance_of_unit_vectors_and_stops_target_gradient() -> None:
    p, z = torch.randn(6, 4, requires_grad=True), torch.randn(6, 4, requires_grad=True)
    expected = (F.normalize(p, dim=1) - F.normalize(z, dim=1)).pow(2).sum(dim=1).mean()
    loss = normalized_regression(p, z)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    loss.backward()
    assert z.grad is None and p.grad.abs().sum() > 0
    assert normalized_regression(p, 3 * p).item() == pytest.approx(0.0, abs=1e-6)


def test_barlow_twins_matches_the_papers_batchnorm_cross_correlation() -> None:
    z1, z2 = torch.randn(16, 5), torch.randn(16, 5)
    bn = torch.nn.BatchNorm1d(5, affine=False)
    c = bn(z1).T @ bn(z2) / 16
    expected = (torch.diagonal(c) - 1).pow(2).sum() + 0.01 * c[_off_diagonal_mask(5)].pow(2).sum()
    assert barlow_twins_loss(z1, z2, 0.01).item() == pytest.approx(expected.item(), rel=1e-4)
    # identical views whose dimensions are uncorrelated give the identity: zero loss
    q = torch.linalg.qr(torch.randn(16, 5))[0]
    white = (q - q.mean(dim=0)) * 4
    assert barlow_twins_loss(white, white).item() < 0.05


def test_vicreg_matches_the_papers_three_terms() -> None:
    z1, z2 = torch.randn(12, 4) * 0.3, torch.randn(12, 4) * 2
    invariance = ((z1 - z2) ** 2).mean()
    variance = 0.0
    covariance = 0.0
    for z in (z1, z2):
        centered = z - z.mean(dim=0)
        std = torch.sqrt(centered.var(dim=0) + 1e-4)
        variance += torch.relu(1 - std).mean() / 2
        cov = centered.T @ centered / (len(z) - 1)
        covariance += cov[_off_diagonal_mask(4)].pow(2).sum() / 4
    expected = 25 * invariance + 25 * variance + covariance
    assert vicreg_loss(z1, z2).item() == pytest.approx(expected.item(), rel=1e-5)
    assert vicreg_loss(z1, z2, 0.0, 0.0, 1.0).item() == pytest.approx(covariance.item(), rel=1e-5)


def test_dino_loss_averages_cross_entropy_over_pairs_of_different_views() -> None:
    teacher = [torch.randn(3, 7) for _ in range(2)]
    student = [torch.randn(3, 7, requires_grad=True) for _ in range(4)]  # 2 global + 2 local
    center = torch.randn(1, 7)
    terms = []
    for i, t in enumerate(teacher):
        target = F.softmax((t - center) / 0.04, dim=1)
        for j, s in enumerate(student):
            if i != j:
                terms.append(-(target * F.log_softmax(s / 0.1, dim=1)).sum(dim=1).mean())
    expected = sum(terms) / len(terms)
    assert len(terms) == 6
    assert dino_loss(student, teacher, center, 0.1, 0.04).item() == pytest.approx(expected.item(), rel=1e-5)


def test_masked_patch_loss_counts_only_hidden_patches_with_per_patch_normalized_targets() -> None:
    patches, prediction = torch.rand(2, 4, 6), torch.randn(2, 4, 6)
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 0.0]])
    targets = (patches - patches.mean(-1, keepdim=True)) / (patches.var(-1, keepdim=True) + 1e-6).sqrt()
    per_patch = ((prediction - targets) ** 2).mean(-1)
    expected = per_patch[mask.bool()].mean()
    assert masked_patch_loss(prediction, patches, mask).item() == pytest.approx(expected.item(), rel=1e-5)
    changed = prediction.clone()
    changed[mask == 0] += 5.0  # visible patches do not count
    assert masked_patch_loss(changed, patches, mask).item() == pytest.approx(expected.item(), rel=1e-5)
    raw = ((prediction - patches) ** 2).mean(-1)[mask.bool()].mean()
    assert masked_patch_loss(prediction, patches, mask, normalize=False).item() == pytest.approx(raw.item())


def test_fixmatch_loss_uses_confident_weak_argmax_as_hard_label_of_the_strong_view() -> None:
    weak = torch.tensor([[4.0, 0.0, 0.0], [0.1, 0.0, 0.0]])  # confident; not confident
    strong = torch.randn(2, 3, requires_grad=True)
    loss = fixmatch_unlabeled_loss(strong, weak, threshold=0.9)
    expected = F.cross_entropy(strong[:1], torch.tensor([0])) / 2  # mean over all unlabeled samples
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert fixmatch_unlabeled_loss(strong, weak, threshold=0.999).item() == 0.0
