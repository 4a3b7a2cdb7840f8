"""The one place where tensors cross ranks.

Losses stay pure functions of local tensors; a method that needs every rank's samples (SimCLR's
negatives, MoCo's queue) gathers them here first. With a single process every function is the
identity, so the same code runs on a laptop and under DDP.
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def rank_seed(seed: int) -> int:
    """This rank's seed of a run: ``seed + 1000 · rank`` (rank 0, or a single process: ``seed``).

    Every rank must draw its own experience — ranks seeded alike collect identical data and DDP
    gains nothing; 1000 apart leaves room for per-env offsets ``+ i`` within a rank.
    """
    return seed + 1000 * rank()


class _GatherWithGrad(torch.autograd.Function):
    """all_gather whose backward hands each rank the summed gradient of its own slice.

    Every rank computes a loss over the gathered tensor, and DDP then averages parameter
    gradients over ranks. Summing the slice gradients over ranks here makes the final gradient
    equal to that of one process computing the mean loss on the concatenated batch.
    """

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> tuple[torch.Tensor, ...]:
        gathered = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(gathered, tensor.contiguous())
        return tuple(gathered)

    @staticmethod
    def backward(ctx, *grads: torch.Tensor) -> torch.Tensor:
        stacked = torch.stack(grads)
        dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
        return stacked[dist.get_rank()]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, keeping the gradient path.

    The result is ordered by rank, so rank ``r``'s own samples start at ``r * len(tensor)``
    (see :func:`local_offset`). All ranks must pass tensors of the same shape.
    """
    if not is_distributed():
        return tensor
    return torch.cat(_GatherWithGrad.apply(tensor), dim=0)


@torch.no_grad()
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0, without gradient."""
    if not is_distributed():
        return tensor
    gathered = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    return torch.cat(gathered, dim=0)


@torch.no_grad()
def gather_uneven(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every rank along dim 0 when its length differs per rank.

    ``all_gather`` needs equal shapes, so each rank pads to the longest, gathers, and trims.
    """
    if not is_distributed():
        return tensor
    counts = gather(torch.tensor([len(tensor)], device=tensor.device))
    padded = tensor.new_zeros(int(counts.max()), *tensor.shape[1:])
    padded[: len(tensor)] = tensor
    chunks = gather(padded).split(len(padded))
    return torch.cat([chunk[:n] for chunk, n in zip(chunks, counts.tolist())])


def local_offset(local_batch_size: int) -> int:
    """Index of this rank's first sample in a tensor returned by :func:`gather_with_grad`."""
    return rank() * local_batch_size


@torch.no_grad()
def broadcast(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Broadcast ``tensor`` from ``src`` in place (identity without a process group)."""
    if is_distributed():
        dist.broadcast(tensor, src)
    return tensor


@torch.no_grad()
def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over ranks, in place."""
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= world_size()
    return tensor
