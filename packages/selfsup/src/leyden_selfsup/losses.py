"""Self-supervised losses as pure functions: tensors in, scalar out, no state, no collectives.

Under DDP a method first gathers what the loss needs from every rank with
``leyden_core.distributed.gather_with_grad`` (SimCLR's two views) or ``gather`` (MoCo's keys,
which carry no gradient), then calls the loss here. Each loss is written so that a rank computing
it on its share of queries, with DDP averaging gradients, gives exactly the loss and gradients of
one process on the concatenated batch (tested with real gloo processes in tests/selfsup).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def nt_xent(
    z1: torch.Tensor,
    z2: torch.Tensor,
    temperature: float,
    all_z1: torch.Tensor | None = None,
    all_z2: torch.Tensor | None = None,
    offset: int = 0,
) -> torch.Tensor:
    """SimCLR's normalized-temperature cross-entropy of this rank's views against every view.

    ``z1[i]`` and ``z2[i]`` are the projections of two views of image ``i``. Each view has its
    other view as the positive and every other view of the whole batch as a negative. Under DDP,
    ``all_z1``/``all_z2`` are every rank's views (gathered with gradient) and this rank's start at
    ``offset``: the logits are this rank's 2N rows against all 2NW columns, not the full
    (2NW)² matrix on every rank (as in lightly and solo-learn). Without them, the batch is whole.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    all_z1 = z1 if all_z1 is None else all_z1
    all_z2 = z2 if all_z2 is None else all_z2
    n, total = z1.shape[0], all_z1.shape[0]
    rows = F.normalize(torch.cat([z1, z2]), dim=1)
    columns = F.normalize(torch.cat([all_z1, all_z2]), dim=1)
    logits = rows @ columns.T / temperature
    mine = torch.arange(offset, offset + n, device=z1.device)
    own_columns = torch.cat([mine, mine + total])  # each row's own view: not a negative
    own = (torch.arange(2 * n, device=z1.device), own_columns)
    logits = logits.index_put(own, logits.new_tensor(float("-inf")))
    targets = torch.cat([mine + total, mine])  # view 1's positive is view 2 of the same image, and back
    return F.cross_entropy(logits, targets)


def info_nce_queue(
    query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor, temperature: float
) -> torch.Tensor:
    """MoCo v2's InfoNCE: each query's positive is its own key, negatives are the queue.

    ``query`` and ``key`` are (N, D) for this rank's samples; ``queue`` is (K, D) keys of earlier
    batches from every rank. All are L2-normalized here.
    """
    q, k, negatives = (F.normalize(t, dim=1) for t in (query, key, queue))
    positive = (q * k).sum(dim=1, keepdim=True)
    logits = torch.cat([positive, q @ negatives.T], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))


def info_nce(query: torch.Tensor, keys: torch.Tensor, offset: int, temperature: float) -> torch.Tensor:
    """MoCo v3's InfoNCE: query ``i`` matches ``keys[offset + i]``; every other key is a negative.

    ``keys`` are the keys of the whole gathered batch (every rank's), ``offset`` is where this
    rank's samples start in it. Scaled by ``2 * temperature`` as in the MoCo v3 paper.
    """
    q, k = F.normalize(query, dim=1), F.normalize(keys, dim=1)
    logits = q @ k.T / temperature
    targets = torch.arange(len(q), device=q.device) + offset
    return 2 * temperature * F.cross_entropy(logits, targets)


def symmetric_info_nce(
    q1: torch.Tensor,
    q2: torch.Tensor,
    keys1: torch.Tensor,
    keys2: torch.Tensor,
    offset: int,
    temperature: float,
) -> torch.Tensor:
    """MoCo v3's symmetrized loss: view 1's queries against view 2's keys, and vice versa."""
    return info_nce(q1, keys2, offset, temperature) + info_nce(q2, keys1, offset, temperature)


def pretext_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """RotNet's and Jigsaw's loss: classify which rotation / permutation was applied."""
    return F.cross_entropy(logits, targets)


def pseudo_label_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Noisy Student's loss on pseudo-labeled samples: weighted cross-entropy.

    ``targets`` are class indices (hard pseudo-labels) or (N, C) probabilities (soft ones);
    ``weights`` are zero for samples below the confidence threshold and rebalance classes
    otherwise. Normalized by the number of samples, so the masked ones count as zero loss.
    """
    per_sample = F.cross_entropy(logits, targets, reduction="none")
    return (per_sample * weights).sum() / max(len(logits), 1)


# --- Non-contrastive and masked-image losses (BYOL, DINO, Barlow Twins, VICReg, MAE) -------------------
# Barlow Twins and VICReg reduce over the batch (means, variances, cross-correlations): under DDP the
# method passes every rank's embeddings gathered with ``gather_with_grad`` and every rank computes the
# same global loss. BYOL's, DINO's and MAE's losses are per-sample means: each rank's local loss, with
# DDP's gradient averaging, is already the loss of the concatenated batch.


def normalized_regression(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """BYOL's loss: mean squared distance of L2-normalized vectors, ``2 - 2 cos(p, z)``.

    ``target`` is the momentum network's projection; it is treated as a constant (detached here).
    """
    p, z = F.normalize(prediction, dim=1), F.normalize(target.detach(), dim=1)
    return (2 - 2 * (p * z).sum(dim=1)).mean()


def dino_loss(
    student: list[torch.Tensor],
    teacher: list[torch.Tensor],
    center: torch.Tensor,
    student_temperature: float,
    teacher_temperature: float,
) -> torch.Tensor:
    """DINO's cross-entropy between the sharpened, centered teacher and the student, over view pairs.

    ``teacher`` holds the logits of the global views, ``student`` those of every view (globals
    first, then locals). Every student view learns every teacher view except its own; the teacher
    distribution is ``softmax((t - center) / teacher_temperature)`` (centering and sharpening),
    without gradient. The center itself is state that the method keeps and updates.
    """
    targets = [F.softmax((t.detach() - center) / teacher_temperature, dim=-1) for t in teacher]
    log_probs = [F.log_softmax(s / student_temperature, dim=-1) for s in student]
    terms = [
        -(target * log_prob).sum(dim=-1).mean()
        for i, target in enumerate(targets)
        for j, log_prob in enumerate(log_probs)
        if i != j
    ]
    return torch.stack(terms).mean()


def _standardize(z: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Zero mean, unit (biased) variance per dimension over the batch, as BatchNorm without affine."""
    return (z - z.mean(dim=0)) / (z.var(dim=0, unbiased=False) + eps).sqrt()


def _off_diagonal(matrix: torch.Tensor) -> torch.Tensor:
    n = matrix.shape[0]
    return matrix.flatten()[:-1].view(n - 1, n + 1)[:, 1:].flatten()


def barlow_twins_loss(z1: torch.Tensor, z2: torch.Tensor, redundancy_weight: float = 5e-3) -> torch.Tensor:
    """Barlow Twins: the cross-correlation of the two views' standardized embeddings should be identity.

    ``z1``, ``z2`` are (N, D) embeddings of the whole batch (every rank's, under DDP): the
    standardization and the correlation are statistics of the global batch, as with the paper's
    synchronized BatchNorm and summed correlation. ``redundancy_weight`` is the paper's λ.
    """
    c = _standardize(z1).T @ _standardize(z2) / z1.shape[0]
    invariance = (torch.diagonal(c) - 1).pow(2).sum()
    redundancy = _off_diagonal(c).pow(2).sum()
    return invariance + redundancy_weight * redundancy


def vicreg_loss(
    z1: torch.Tensor,
    z2: torch.Tensor,
    invariance_weight: float = 25.0,
    variance_weight: float = 25.0,
    covariance_weight: float = 1.0,
    eps: float = 1e-4,
) -> torch.Tensor:
    """VICReg: invariance (MSE between views) + variance (hinge on each dimension's std at 1) +
    covariance (off-diagonal covariance squared, per dimension), on (N, D) embeddings of the
    whole batch (every rank's, under DDP), with the paper's weights λ=25, μ=25, ν=1."""
    invariance = F.mse_loss(z1, z2)
    z1, z2 = z1 - z1.mean(dim=0), z2 - z2.mean(dim=0)
    variance = sum(F.relu(1 - (z.var(dim=0) + eps).sqrt()).mean() for z in (z1, z2)) / 2
    n, d = z1.shape
    covariance = sum(_off_diagonal(z.T @ z / (n - 1)).pow(2).sum() / d for z in (z1, z2))
    return invariance_weight * invariance + variance_weight * variance + covariance_weight * covariance


def masked_patch_loss(
    prediction: torch.Tensor, patches: torch.Tensor, mask: torch.Tensor, normalize: bool = True
) -> torch.Tensor:
    """MAE's loss: mean squared error on the masked patches only.

    ``prediction`` and ``patches`` are (N, L, P) pixel values per patch, ``mask`` is (N, L) with 1
    where a patch was hidden from the encoder. With ``normalize`` each target patch is standardized
    by its own mean and variance (the paper's per-patch normalized pixels, better features).
    Every sample hides the same number of patches (a fixed mask ratio), so under DDP each rank's
    mean over its hidden patches, averaged over ranks, is the mean of the whole batch.
    """
    if normalize:
        patches = (patches - patches.mean(dim=-1, keepdim=True)) / (
            patches.var(dim=-1, keepdim=True) + 1e-6
        ).sqrt()
    per_patch = (prediction - patches).pow(2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum()


def fixmatch_unlabeled_loss(
    strong_logits: torch.Tensor, weak_logits: torch.Tensor, threshold: float
) -> torch.Tensor:
    """FixMatch's consistency loss: the weak view's confident argmax is the strong view's hard target.

    Samples whose weak-view confidence is below ``threshold`` count as zero; the mean is over all
    unlabeled samples (the paper's normalization), so the loss grows as more samples pass.
    """
    confidence, pseudo_labels = F.softmax(weak_logits.detach(), dim=1).max(dim=1)
    per_sample = F.cross_entropy(strong_logits, pseudo_labels, reduction="none")
    return (per_sample * (confidence >= threshold).float()).mean()
