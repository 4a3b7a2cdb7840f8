"""VICReg (Bardes, Ponce & LeCun 2022): invariance, variance and covariance terms keep embeddings informative.

for each batch x:
    x1, x2 = augment(x), augment(x)
    z1, z2 = expander(trunk(x1, x2))                        # 3-layer MLP, wide output
    all_z1, all_z2 = gather_with_grad(z1), gather_with_grad(z2)   # statistics of the global batch
    loss = λ · mse(all_z1, all_z2)                          # invariance
         + μ · [hinge(1 - std(all_z1)) + hinge(1 - std(all_z2))] / 2   # variance: no collapse
         + ν · [off_diag(cov(all_z1))² + off_diag(cov(all_z2))²] / D    # covariance: decorrelate
"""

from __future__ import annotations

from typing import Any

import torch

from leyden_core.checks import check_non_negative
from leyden_core.distributed import gather_with_grad
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import vicreg_loss


class VICReg(SelfSupervisedModule):
    """VICReg over any backbone.

    Args:
        projection_dim, projection_hidden_dim: of the 3-layer expander (8192 each in the paper,
            2048 in solo-learn's CIFAR recipe).
        invariance_weight, variance_weight, covariance_weight: λ, μ, ν (25, 25, 1 in the paper).
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"blur_p": 0.5, "solarize_p": 0.1}

    def __init__(
        self,
        projection_dim: int = 2048,
        projection_hidden_dim: int = 2048,
        invariance_weight: float = 25.0,
        variance_weight: float = 25.0,
        covariance_weight: float = 1.0,
        **kwargs: Any,
    ) -> None:
        for name, value, example in (
            ("invariance_weight", invariance_weight, 25.0),
            ("variance_weight", variance_weight, 25.0),
            ("covariance_weight", covariance_weight, 1.0),
        ):
            check_non_negative(name, value, example)
        super().__init__(**kwargs)
        self.net.add_head(
            "projection", mlp(self.net.feature_dim, projection_hidden_dim, projection_dim, layers=3)
        )

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.augment(images), self.augment(images)
        self.log_views(x1, x2)
        z1, z2 = self.net(torch.cat([x1, x2]), "projection").chunk(2)
        hp = self.hparams
        return vicreg_loss(
            gather_with_grad(z1),
            gather_with_grad(z2),
            hp.invariance_weight,
            hp.variance_weight,
            hp.covariance_weight,
        )
