"""BYOL (Grill et al. 2020): an online network predicts a slow-moving target network's projection of another view.

for each batch x:
    x1, x2 = augment(x), augment(x)
    p1, p2 = predictor(projection(trunk(x1, x2)))               # online network, trained
    m = 1 - (1 - m_base) (cos(π k / K) + 1) / 2                 # momentum rises to 1 on a cosine
    target ← m · target + (1 - m) · online                      # trunk + projection, no predictor
    z1, z2 = target(x1), target(x2)                             # no gradient
    loss = normalized_regression(p1, z2) + normalized_regression(p2, z1)   # 2 - 2 cos, symmetrized

No negatives and no batch statistic in the loss: each rank's mean loss, averaged by DDP, is the loss of
the whole batch (BatchNorm in the heads normalizes each rank's share, as in the paper's per-device BN).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from leyden_core.checks import check_fraction
from leyden_core.ema import polyak_update
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import normalized_regression
from leyden_selfsup.optim import cosine_momentum


class BYOL(SelfSupervisedModule):
    """BYOL over any backbone.

    Args:
        projection_dim, hidden_dim: of the 2-layer projection and prediction MLPs (256 and 4096 in the paper).
        base_momentum: the target's momentum at the first step (0.996 in the paper, 0.99 for short runs);
            it rises to 1 on a cosine over training.
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"blur_p": 0.5, "solarize_p": 0.1}  # the mean of the paper's two asymmetric views

    def __init__(
        self, projection_dim: int = 256, hidden_dim: int = 4096, base_momentum: float = 0.996, **kwargs: Any
    ) -> None:
        check_fraction("base_momentum", base_momentum, 0.996)
        super().__init__(**kwargs)
        self.net.add_head("projection", mlp(self.net.feature_dim, hidden_dim, projection_dim))
        self.target_net = copy.deepcopy(self.net).requires_grad_(False)
        self.net.add_head("prediction", mlp(projection_dim, hidden_dim, projection_dim))

    def momentum(self) -> float:
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 1
        return cosine_momentum(self.hparams.base_momentum, self.global_step, total)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.augment(images), self.augment(images)
        self.log_views(x1, x2)
        h = self.net.features(torch.cat([x1, x2]))
        p1, p2 = self.net.heads["prediction"](self.net.heads["projection"](h)).chunk(2)
        m = self.momentum()
        polyak_update(self.target_net.trunk, self.net.trunk, 1.0 - m)
        polyak_update(self.target_net.heads["projection"], self.net.heads["projection"], 1.0 - m)
        with torch.no_grad():
            z1, z2 = self.target_net(torch.cat([x1, x2]), "projection").chunk(2)
        self.log("train/target_momentum", m)
        return normalized_regression(p1, z2) + normalized_regression(p2, z1)
