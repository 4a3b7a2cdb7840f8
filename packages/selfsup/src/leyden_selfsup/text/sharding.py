"""Fully sharded data parallel (FSDP2, ``fully_shard``) for the text networks.

Lightning's ``ModelParallelStrategy`` builds a device mesh and calls the method's ``configure_model``;
there each transformer block becomes its own shard unit, then the network (embeddings, final norm,
heads) a last one. Per-block units are what make FSDP save memory: only one block's full weights
exist at a time in the forward and backward passes. The output layer tied to the token embedding
stays in the network's unit, so the tie survives sharding. This runs on CPU (gloo) as on GPUs (NCCL),
unlike ``strategy: fsdp`` (FSDP1), which Lightning and PyTorch accept only on an accelerator.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.trunks import TextMultiHeadNet, transformer_blocks

DATA_PARALLEL = "data_parallel"
TENSOR_PARALLEL = "tensor_parallel"


def is_sharded(module: nn.Module) -> bool:
    """Whether ``fully_shard`` already wrapped ``module`` (``configure_model`` may run once per stage)."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(module, FSDPModule)


def data_parallel_mesh(mesh: Any, method: str) -> Any:
    """The mesh's data-parallel dimension; refuses a tensor-parallel one, which nothing here splits."""
    names = mesh.mesh_dim_names or ()
    if TENSOR_PARALLEL in names and mesh[TENSOR_PARALLEL].size() > 1:
        raise LeydenConfigError(
            f"{method} shards its weights by data only, but the strategy asks for "
            f"tensor_parallel_size={mesh[TENSOR_PARALLEL].size()}",
            "set --trainer.strategy.data_parallel_size=<devices> --trainer.strategy.tensor_parallel_size=1",
        )
    return mesh[DATA_PARALLEL] if DATA_PARALLEL in names else mesh


def shard_text_net(net: TextMultiHeadNet, mesh: Any) -> None:
    """``fully_shard`` each transformer block of ``net``'s trunk, then ``net`` itself (the root unit)."""
    from torch.distributed.fsdp import fully_shard

    for block in transformer_blocks(net.trunk):
        fully_shard(block, mesh=mesh)
    fully_shard(net, mesh=mesh)
