"""MoCo v2 (He et al. 2020; Chen et al. 2020): a query matches its key, not the queue of old keys.

for each batch x:
    q = projection(trunk(augment(x)))                    # query encoder, trained
    key_encoder ← m · key_encoder + (1 - m) · encoder    # momentum encoder, no gradient
    k = key_encoder(augment(x))                          # with BN statistics shuffled across ranks
    loss = info_nce_queue(q, k, queue, temperature)
    queue ← enqueue(gather(k))                           # every rank's keys, dequeue the oldest
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from leyden_core.checks import check_choice, check_count, check_fraction, check_positive
from leyden_core.distributed import broadcast, gather, local_offset, rank, world_size
from leyden_core.ema import polyak_update
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import info_nce_queue

BATCHNORM_MODES = ("shuffle", "sync", "local")


class MoCoV2(SelfSupervisedModule):
    """MoCo v2 over any backbone.

    Args:
        temperature: of InfoNCE (0.2 in MoCo v2).
        projection_dim, projection_hidden_dim: of the 2-layer MLP head.
        queue_size: number of negative keys kept (65536 for ImageNet; a few times the batch on digits).
        encoder_momentum: of the key encoder's moving average (0.999 in the paper, 0.99 for short runs).
        batchnorm: how the key encoder's BatchNorm avoids leaking the batch under DDP: ``shuffle``
            (shuffle the keys' batch across ranks before encoding, the paper's trick), ``sync``
            (SyncBatchNorm in both encoders, needs GPUs), or ``local`` (neither).
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    def __init__(
        self,
        temperature: float = 0.2,
        projection_dim: int = 128,
        projection_hidden_dim: int = 512,
        queue_size: int = 4096,
        encoder_momentum: float = 0.99,
        batchnorm: str = "shuffle",
        **kwargs: Any,
    ) -> None:
        check_positive("temperature", temperature, 0.2)
        check_count("queue_size", queue_size)
        check_fraction("encoder_momentum", encoder_momentum, 0.99)
        check_choice("batchnorm", batchnorm, BATCHNORM_MODES)
        super().__init__(**kwargs)
        self.net.add_head("projection", mlp(self.net.feature_dim, projection_hidden_dim, projection_dim))
        self.key_net = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("queue", F.normalize(torch.randn(queue_size, projection_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))

    def setup(self, stage: str) -> None:
        super().setup(stage)
        if self.hparams.batchnorm == "sync" and world_size() > 1:
            self.net = nn.SyncBatchNorm.convert_sync_batchnorm(self.net)
            self.key_net = nn.SyncBatchNorm.convert_sync_batchnorm(self.key_net)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x_q, x_k = self.augment(images), self.augment(images)
        self.log_views(x_q, x_k)
        q = self.net(x_q, "projection")
        polyak_update(self.key_net, self.net, 1.0 - self.hparams.encoder_momentum)
        k = self.encode_keys(x_k)
        loss = info_nce_queue(q, k, self.queue.clone(), self.hparams.temperature)
        self.enqueue(gather(k))
        return loss

    @torch.no_grad()
    def encode_keys(self, x: torch.Tensor) -> torch.Tensor:
        """Keys of ``x``; with ``batchnorm: shuffle`` each rank encodes a random share of all ranks' images."""
        if self.hparams.batchnorm != "shuffle" or world_size() == 1:
            return self.key_net(x, "projection")
        x_all = gather(x)
        order = broadcast(torch.randperm(len(x_all), device=x.device))
        mine = order.view(world_size(), -1)[rank()]
        k_all = torch.empty(len(x_all), self.queue.shape[1], device=x.device, dtype=x.dtype)
        k_all[order] = gather(self.key_net(x_all[mine], "projection"))
        start = local_offset(len(x))
        return k_all[start : start + len(x)]

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        """Overwrite the oldest entries of the ring buffer with ``keys``."""
        index = (self.queue_ptr + torch.arange(len(keys), device=keys.device)) % len(self.queue)
        self.queue[index] = F.normalize(keys.to(self.queue.dtype), dim=1)
        self.queue_ptr.copy_((self.queue_ptr + len(keys)) % len(self.queue))
