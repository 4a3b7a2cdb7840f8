"""MoCo v3 (Chen, Xie & He 2021): symmetric InfoNCE with a predictor, in-batch negatives, no queue.

for each batch x:
    x1, x2 = augment(x), augment(x)
    q1, q2 = predictor(projection(trunk(x1, x2)))        # online encoder + predictor
    key_encoder ← m · key_encoder + (1 - m) · encoder    # momentum encoder, no predictor
    k1, k2 = gather(key_encoder(x1)), gather(key_encoder(x2))   # every rank's keys
    loss = info_nce(q1, k2) + info_nce(q2, k1)
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from leyden_core.checks import check_fraction, check_positive
from leyden_core.distributed import gather, local_offset
from leyden_core.ema import polyak_update
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import symmetric_info_nce


class MoCoV3(SelfSupervisedModule):
    """MoCo v3 over any backbone (the paper's ResNet variant: BN in the MLP heads).

    Args:
        temperature: of InfoNCE (0.2 in the paper for ResNets).
        projection_dim, hidden_dim: of the 3-layer projection and 2-layer prediction MLPs.
        encoder_momentum: of the key encoder's moving average (0.99 in the paper).
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"blur_p": 0.5, "solarize_p": 0.1}

    def __init__(
        self,
        temperature: float = 0.2,
        projection_dim: int = 256,
        hidden_dim: int = 1024,
        encoder_momentum: float = 0.99,
        **kwargs: Any,
    ) -> None:
        check_positive("temperature", temperature, 0.2)
        check_fraction("encoder_momentum", encoder_momentum, 0.99)
        super().__init__(**kwargs)
        self.net.add_head(
            "projection", mlp(self.net.feature_dim, hidden_dim, projection_dim, layers=3, last_bn=True)
        )
        self.key_net = copy.deepcopy(self.net).requires_grad_(False)
        self.net.add_head("prediction", mlp(projection_dim, hidden_dim, projection_dim, layers=2))

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.augment(images), self.augment(images)
        self.log_views(x1, x2)
        h = self.net.features(torch.cat([x1, x2]))
        q1, q2 = self.net.heads["prediction"](self.net.heads["projection"](h)).chunk(2)
        tau = 1.0 - self.hparams.encoder_momentum
        polyak_update(self.key_net.trunk, self.net.trunk, tau)
        polyak_update(self.key_net.heads["projection"], self.net.heads["projection"], tau)
        with torch.no_grad():
            k1, k2 = self.key_net(torch.cat([x1, x2]), "projection").chunk(2)
        offset = local_offset(len(images))
        loss = symmetric_info_nce(q1, q2, gather(k1), gather(k2), offset, self.hparams.temperature)
        return loss
