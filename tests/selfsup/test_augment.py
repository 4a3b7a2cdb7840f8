"""On-device views and the Jigsaw puzzle pieces."""

from __future__ import annotations

import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.augment import ViewAugment
from leyden_selfsup.jigsaw import maximal_hamming_permutations, random_tiles


@pytest.mark.parametrize("channels", [1, 3])
def test_views_have_the_requested_shape_and_range(channels: int) -> None:
    augment = ViewAugment(12, channels, blur_p=0.5, solarize_p=0.5, affine_degrees=15, erase_p=0.5)
    views = augment(torch.rand(16, channels, 20, 20))
    assert views.shape == (16, channels, 12, 12)
    assert views.min() >= 0.0 and views.max() <= 1.0


def test_every_sample_gets_its_own_random_view_and_seeds_repeat_them() -> None:
    augment = ViewAugment(16, 3)
    images = torch.rand(1, 3, 16, 16).expand(8, -1, -1, -1)  # eight copies of one image
    torch.manual_seed(3)
    first = augment(images)
    assert not torch.allclose(first[0], first[1])
    torch.manual_seed(3)
    torch.testing.assert_close(augment(images), first)


def test_bad_augmentation_settings_raise_config_errors() -> None:
    with pytest.raises(LeydenConfigError, match="crop_scale"):
        ViewAugment(16, 3, crop_scale=(0.0, 1.0))
    with pytest.raises(LeydenConfigError, match="channels"):
        ViewAugment(16, 2)
    with pytest.raises(LeydenConfigError, match="batch"):
        ViewAugment(16, 3)(torch.rand(3, 16, 16))


def test_permutation_set_is_far_apart_and_deterministic() -> None:
    permutations = maximal_hamming_permutations(30)
    assert permutations.shape == (30, 9)
    assert all(sorted(p.tolist()) == list(range(9)) for p in permutations)
    distances = (permutations[:, None] != permutations[None]).sum(-1) + 9 * torch.eye(30, dtype=torch.long)
    assert distances.min() >= 7  # greedy selection keeps every pair at least 7 of 9 tiles apart
    torch.testing.assert_close(maximal_hamming_permutations.__wrapped__(30), permutations)


def test_tiles_come_from_their_grid_cells() -> None:
    images = torch.arange(2 * 9 * 9, dtype=torch.float).view(2, 1, 9, 9)
    tiles = random_tiles(images, tile=2)
    assert tiles.shape == (2, 9, 1, 2, 2)
    for cell in range(9):
        row, col = divmod(cell, 3)
        top_left = tiles[0, cell, 0, 0, 0].item()
        r, c = divmod(int(top_left), 9)
        assert 3 * row <= r <= 3 * row + 1 and 3 * col <= c <= 3 * col + 1
        torch.testing.assert_close(tiles[0, cell, 0], images[0, 0, r : r + 2, c : c + 2])
