"""RotNet (Gidaris et al. 2018): learn features by predicting which of 0/90/180/270° an image was turned.

for each batch x:
    x = augment(x)                                   # mild: crop and flip
    x_r = [rot90(x, r) for r in 0..3];  y = r        # every image in all four rotations
    loss = cross_entropy(rotation_head(trunk(x_r)), y)
"""

from __future__ import annotations

import torch

from leyden_selfsup.base import SelfSupervisedModule
from leyden_selfsup.losses import pretext_cross_entropy


class RotNet(SelfSupervisedModule):
    """RotNet over any backbone; ``**kwargs`` as in :class:`~leyden_selfsup.base.SelfSupervisedModule`."""

    default_augment = {"crop_scale": (0.5, 1.0), "jitter_p": 0.0, "grayscale_p": 0.0}

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.net.add_linear_head("rotation", 4)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x = self.augment(images)
        rotated = torch.cat([torch.rot90(x, r, dims=(2, 3)) for r in range(4)])
        self.log_views(*rotated.chunk(4))
        targets = torch.arange(4, device=x.device).repeat_interleave(len(x))
        return pretext_cross_entropy(self.net(rotated, "rotation"), targets)
