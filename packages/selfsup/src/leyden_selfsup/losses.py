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
