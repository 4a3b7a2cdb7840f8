"""The non-contrastive, masked-image and FixMatch losses under DDP, in ONE pair of gloo processes.

Barlow Twins and VICReg reduce over the batch (standardization, cross-correlation, variance,
covariance): each rank gathers every rank's embeddings with ``gather_with_grad`` and computes the
global loss. BYOL, DINO, MAE and FixMatch are per-sample means computed locally. Either way, after
DDP's gradient averaging, loss and gradients must equal one process on the concatenated batch
(to 1e-5); DINO's center, updated from every rank's teacher outputs, must be the same on every rank
and equal to the single-process update.
"""

from __future__ import annotations

import pytest
import torch

from leyden_core.distributed import all_reduce_mean, gather_with_grad
from leyden_core.testing import run_distributed
from leyden_selfsup.losses import (
    barlow_twins_loss,
    dino_loss,
    fixmatch_unlabeled_loss,
    masked_patch_loss,
    normalized_regression,
    vicreg_loss,
)

BATCH, IN, DIM = 8, 5, 6
pytestmark = pytest.mark.ddp


def _problem() -> tuple[torch.nn.Linear, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Same encoder and data on every process: an encoder, two views and a hiding mask."""
    gen = torch.Generator().manual_seed(0)
    encoder = torch.nn.Linear(IN, DIM)
    with torch.no_grad():
        for p in encoder.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    x1, x2 = torch.randn(BATCH, IN, generator=gen), torch.randn(BATCH, IN, generator=gen)
    # 2 of 3 patches hidden per sample, at random places: MAE hides the same number in every sample
    mask = (torch.rand(BATCH, 3, generator=gen).argsort(dim=1) < 2).float()
    return encoder, x1, x2, mask


def _loss(name: str, z1: torch.Tensor, z2: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each loss as its method computes it: gathering first where the loss reduces over the batch."""
    if name == "barlow_twins":
        return barlow_twins_loss(gather_with_grad(z1), gather_with_grad(z2), 5e-3)
    if name == "vicreg":
        return vicreg_loss(gather_with_grad(z1), gather_with_grad(z2))
    if name == "byol":
        return normalized_regression(z1, z2.detach() + 1.0) + normalized_regression(z2, z1.detach() - 1.0)
    if name == "dino":
        center = torch.linspace(-0.1, 0.1, DIM)
        return dino_loss([z1, z2, 0.5 * z1], [z2.detach(), z1.detach()], center, 0.1, 0.04)
    if name == "fixmatch":
        return fixmatch_unlabeled_loss(z1, 3 * z2, threshold=0.4)
    if name == "mae":  # 3 patches of 2 pixels
        return masked_patch_loss(z1.view(-1, 3, 2), z2.detach().view(-1, 3, 2), mask)
    raise ValueError(name)


NAMES = ("barlow_twins", "vicreg", "byol", "dino", "fixmatch", "mae")


def _losses(
    x1: torch.Tensor, x2: torch.Tensor, mask: torch.Tensor
) -> dict[str, tuple[float, list[torch.Tensor]]]:
    encoder = _problem()[0]
    results = {}
    for name in NAMES:
        encoder.zero_grad()
        loss = _loss(name, encoder(x1), encoder(x2), mask)
        loss.backward()
        grads = [all_reduce_mean(p.grad.clone()) for p in encoder.parameters()]  # what DDP does
        results[name] = (float(all_reduce_mean(loss.detach().clone())), grads)
    return results


def _dino_center(rank: int, world_size: int) -> torch.Tensor:
    from leyden_selfsup.dino import DINO

    torch.manual_seed(0)
    model = DINO(backbone="leyden_tiny_cnn", image_size=16, out_dim=DIM, hidden_dim=8, bottleneck_dim=4)
    teacher = torch.arange(BATCH * DIM, dtype=torch.float).view(BATCH, DIM)
    share = BATCH // world_size
    model.update_center(teacher[rank * share : (rank + 1) * share])
    return model.center.clone()


def _ranked(rank: int, world_size: int) -> dict:
    _, x1, x2, mask = _problem()
    share = BATCH // world_size
    mine = slice(rank * share, (rank + 1) * share)
    return {"losses": _losses(x1[mine], x2[mine], mask[mine]), "center": _dino_center(rank, world_size)}


@pytest.fixture(scope="module")
def per_rank() -> list[dict]:
    return run_distributed(_ranked, 2)


@pytest.mark.parametrize("name", NAMES)
def test_loss_under_ddp_equals_one_process_on_the_whole_batch(per_rank, name: str) -> None:
    _, x1, x2, mask = _problem()
    loss, grads = _losses(x1, x2, mask)[name]
    assert any(g.abs().sum() > 0 for g in grads)  # the comparison is not between zeros
    for rank_result in per_rank:
        got_loss, got_grads = rank_result["losses"][name]
        # float32 sums in another order differ in the last bits: relative to the loss (VICReg's is ~155)
        assert got_loss == pytest.approx(loss, rel=1e-6, abs=1e-5)
        for got, want in zip(got_grads, grads, strict=True):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_dino_center_moves_towards_the_mean_of_every_ranks_teacher_outputs(per_rank) -> None:
    expected = 0.1 * torch.arange(BATCH * DIM, dtype=torch.float).view(BATCH, DIM).mean(dim=0, keepdim=True)
    for rank_result in per_rank:
        torch.testing.assert_close(rank_result["center"], expected)
