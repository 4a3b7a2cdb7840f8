"""SimCLR (Chen et al. 2020): agree on two random views of an image, against every other view.

for each batch x:
    x1, x2 = augment(x), augment(x)                 # two random views, made on the device
    h = trunk([x1, x2]);  z = projection(h)         # representation h, projection z
    all_z1, all_z2 = gather_with_grad(z1), gather_with_grad(z2)   # every rank's views are negatives
    loss = nt_xent(z1, z2, temperature, all_z1, all_z2, offset=rank * len(z1))   # local rows only
"""

from __future__ import annotations

from typing import Any

import torch

from leyden_core.checks import check_positive
from leyden_core.distributed import gather_with_grad, local_offset
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import nt_xent


class SimCLR(SelfSupervisedModule):
    """SimCLR over any backbone. For the paper's large-batch recipe use ``optimizer: lars``.

    Args:
        temperature: of NT-Xent (0.2 in the CIFAR-10 recipe, 0.1 at large ImageNet batches).
        projection_dim, projection_hidden_dim: of the 2-layer MLP projection head.
        **kwargs: backbone, augmentation, optimizer and evaluation settings of
            :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    def __init__(
        self,
        temperature: float = 0.2,
        projection_dim: int = 128,
        projection_hidden_dim: int = 512,
        **kwargs: Any,
    ) -> None:
        check_positive("temperature", temperature, 0.2)
        super().__init__(**kwargs)
        self.net.add_head("projection", mlp(self.net.feature_dim, projection_hidden_dim, projection_dim))

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.augment(images), self.augment(images)
        self.log_views(x1, x2)
        h = self.net.features(torch.cat([x1, x2]))
        z1, z2 = self.net.heads["projection"](h).chunk(2)
        all_z1, all_z2 = gather_with_grad(z1), gather_with_grad(z2)
        loss = nt_xent(z1, z2, self.hparams.temperature, all_z1, all_z2, local_offset(len(z1)))
        return loss
