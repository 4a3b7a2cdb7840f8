"""RotNet (Gidaris et al. 2018): learn features by predicting which of 0/90/180/270° an image was turned.

for each batch x:
    x = augment(x)                                   # mild: crop and flip
    x_r = [rot90(x, r) for r in 0..3];  y = r        # every image in all four rotations
    loss = cross_entropy(rotation_head(trunk(x_r)), y)

The rotation head is a small MLP, not a linear layer. The paper reads its features from an
intermediate block because the last blocks specialise on the pretext; with a linear head the
trunk's own output *is* that last block, and it loses what tells the classes apart (on digits a
linear probe on it falls below an untrained encoder, benchmarks/selfsup.md). A hidden layer takes
over that specialisation, so the trunk's output — what the probe, linear evaluation and
``leyden export`` use — stays general.
"""

from __future__ import annotations

import torch
from torch import nn

from leyden_core.checks import check_count
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import pretext_cross_entropy

ROTATIONS = 4


class RotNet(SelfSupervisedModule):
    """RotNet over any backbone.

    Args:
        hidden_dim: width of the rotation head's hidden layer (Linear → BN → ReLU → Linear);
            0 puts a linear head straight on the trunk's features.
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"crop_scale": (0.5, 1.0), "jitter_p": 0.0, "grayscale_p": 0.0}

    def __init__(self, hidden_dim: int = 256, **kwargs) -> None:
        check_count("hidden_dim", hidden_dim, minimum=0)
        super().__init__(**kwargs)
        features = self.net.feature_dim
        head = mlp(features, hidden_dim, ROTATIONS) if hidden_dim else nn.Linear(features, ROTATIONS)
        self.net.add_head("rotation", head)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x = self.augment(images)
        rotated = torch.cat([torch.rot90(x, r, dims=(2, 3)) for r in range(ROTATIONS)])
        self.log_views(*rotated.chunk(ROTATIONS))
        targets = torch.arange(ROTATIONS, device=x.device).repeat_interleave(len(x))
        return pretext_cross_entropy(self.net(rotated, "rotation"), targets)
