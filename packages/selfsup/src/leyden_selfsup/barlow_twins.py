"""Barlow Twins (Zbontar et al. 2021): make the cross-correlation of two views' embeddings the identity.

for each batch x:
    x1, x2 = augment(x), augment(x)
    z1, z2 = projector(trunk(x1, x2))                       # 3-layer MLP, wide output
    all_z1, all_z2 = gather_with_grad(z1), gather_with_grad(z2)   # statistics of the global batch
    c = standardize(all_z1).T @ standardize(all_z2) / N     # D × D cross-correlation
    loss = Σ_i (1 - c_ii)² + λ Σ_{i≠j} c_ij²                # invariance + redundancy reduction
"""

from __future__ import annotations

from typing import Any

import torch

from leyden_core.checks import check_positive
from leyden_core.distributed import gather_with_grad
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import barlow_twins_loss


class BarlowTwins(SelfSupervisedModule):
    """Barlow Twins over any backbone.

    Args:
        projection_dim, projection_hidden_dim: of the 3-layer projector (8192 each in the paper,
            2048 in solo-learn's CIFAR recipe).
        redundancy_weight: λ, the weight of the off-diagonal terms (5e-3 in the paper).
        loss_scale: a constant factor on the loss (0.1 in solo-learn's CIFAR recipe; 1 in the paper),
            which only rescales the learning rate for Adam-free optimizers.
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"blur_p": 0.5, "solarize_p": 0.1}

    def __init__(
        self,
        projection_dim: int = 2048,
        projection_hidden_dim: int = 2048,
        redundancy_weight: float = 5e-3,
        loss_scale: float = 1.0,
        **kwargs: Any,
    ) -> None:
        check_positive("redundancy_weight", redundancy_weight, 5e-3)
        check_positive("loss_scale", loss_scale, 1.0)
        super().__init__(**kwargs)
        self.net.add_head(
            "projection", mlp(self.net.feature_dim, projection_hidden_dim, projection_dim, layers=3)
        )

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.augment(images), self.augment(images)
        self.log_views(x1, x2)
        z1, z2 = self.net(torch.cat([x1, x2]), "projection").chunk(2)
        loss = barlow_twins_loss(gather_with_grad(z1), gather_with_grad(z2), self.hparams.redundancy_weight)
        return self.hparams.loss_scale * loss
