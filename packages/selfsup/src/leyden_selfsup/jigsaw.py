"""Jigsaw puzzles (Noroozi & Favaro 2016): learn features by putting shuffled 3×3 tiles back in order.

permutations = maximal_hamming_permutations(P)       # fixed, far apart from each other
for each batch x:
    tiles = 3×3 grid of x, each tile randomly shifted inside its cell (no edge shortcuts)
    p ~ U{0..P-1};  tiles = tiles[permutations[p]]
    h = concat(trunk(tile) for tile in tiles)        # one shared trunk for the 9 tiles
    loss = cross_entropy(permutation_head(h), p)
"""

from __future__ import annotations

import itertools
from functools import lru_cache

import numpy as np
import torch

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import pretext_cross_entropy

GRID = 3


@lru_cache(maxsize=8)
def maximal_hamming_permutations(count: int, seed: int = 0) -> torch.Tensor:
    """``count`` permutations of the 9 tiles chosen greedily so that each new one is as far as
    possible (in Hamming distance) from all chosen so far — the paper's Algorithm 1. (count, 9)."""
    every = np.array(list(itertools.permutations(range(GRID * GRID))), dtype=np.int8)
    if not 2 <= count <= len(every):
        raise LeydenConfigError(f"num_permutations must be in [2, {len(every)}], got {count}", "e.g. 100")
    rng = np.random.default_rng(seed)
    chosen = [int(rng.integers(len(every)))]
    nearest = np.full(len(every), GRID * GRID, dtype=np.int8)
    for _ in range(count - 1):
        nearest = np.minimum(nearest, (every != every[chosen[-1]]).sum(axis=1, dtype=np.int8))
        best = np.flatnonzero(nearest == nearest.max())
        chosen.append(int(best[rng.integers(len(best))]))
    return torch.from_numpy(every[chosen].astype(np.int64))


def random_tiles(images: torch.Tensor, tile: int) -> torch.Tensor:
    """(N, C, H, W) → (N, 9, C, tile, tile): each grid cell cropped at a random offset per sample."""
    n, c, h, _ = images.shape
    cell = h // GRID
    device = images.device
    offsets = torch.randint(0, cell - tile + 1, (n, GRID * GRID, 2), device=device)
    corner = torch.tensor([(r * cell, col * cell) for r in range(GRID) for col in range(GRID)], device=device)
    start = corner + offsets  # (N, 9, 2)
    span = torch.arange(tile, device=device)
    rows = (start[..., 0:1] + span)[..., :, None]  # (N, 9, tile, 1)
    cols = (start[..., 1:2] + span)[..., None, :]  # (N, 9, 1, tile)
    batch = torch.arange(n, device=device)[:, None, None, None]
    return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 1, 4, 2, 3)


class Jigsaw(SelfSupervisedModule):
    """Jigsaw over any backbone.

    Args:
        num_permutations: size of the permutation set (100 in the paper's best setting).
        tile_jitter: pixels each tile may shift inside its cell (tile side = cell side - jitter).
        hidden_dim: of the MLP on the 9 concatenated tile features.
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"crop_scale": (0.6, 1.0), "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}

    def __init__(
        self, num_permutations: int = 100, tile_jitter: int = 1, hidden_dim: int = 512, **kwargs
    ) -> None:
        super().__init__(**kwargs)
        cell = self.hparams.image_size // GRID
        self.tile = cell - tile_jitter
        if tile_jitter < 0 or self.tile < 4:
            raise LeydenConfigError(
                f"tiles of {self.tile} px from image_size {self.hparams.image_size}", "use image_size >= 15"
            )
        self.register_buffer("permutations", maximal_hamming_permutations(num_permutations), persistent=False)
        self.net.add_head(
            "permutation", mlp(GRID * GRID * self.net.feature_dim, hidden_dim, num_permutations)
        )

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        tiles = random_tiles(self.augment(images), self.tile)
        targets = torch.randint(len(self.permutations), (len(images),), device=images.device)
        shuffled = tiles[torch.arange(len(images), device=images.device)[:, None], self.permutations[targets]]
        self.log_views(shuffled[:, 0], shuffled[:, 4])
        h = self.net.features(shuffled.flatten(0, 1)).view(len(images), -1)
        return pretext_cross_entropy(self.net.heads["permutation"](h), targets)
