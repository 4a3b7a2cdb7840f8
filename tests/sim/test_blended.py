"""Blended digits (real digits on real photographs): disjoint splits, seeded, in range, MNIST-M's blend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leyden_core.data import DigitsDataModule
from leyden_core.data.digits import UNLABELED, load_digits_images
from leyden_core.errors import LeydenConfigError
from leyden_sim.blended import BlendedDigitsDataModule, blend_onto_photos
from leyden_sim.content import fit_glyph, glyph
from leyden_sim.datamodules import SynDigitsDataModule, photo_digits_randomization
from leyden_sim.randomizers import Colour, Texture
from leyden_sim.scene import Renderer
from leyden_sim.textures import PHOTOS, SOURCE_PHOTOS, TARGET_PHOTOS, bundled_photos


@pytest.fixture(scope="module")
def blended() -> BlendedDigitsDataModule:
    data = BlendedDigitsDataModule(image_size=16, seed=0)
    data.setup()
    return data


def _sorted_rows(images: torch.Tensor) -> torch.Tensor:
    flat = images.flatten(1)
    for column in reversed(range(flat.shape[1])):  # lexicographic sort of the rows
        flat = flat[flat[:, column].argsort(stable=True)]
    return flat


def test_splits_partition_the_real_digits_like_digits_datamodule(blended):
    clean = [getattr(blended.digits, split).tensors for split in ("train", "val", "test")]
    assert sum(len(images) for images, _ in clean) == 1797
    everything, _ = load_digits_images(16, channels=1)
    torch.testing.assert_close(  # train + val + test is the whole set, each digit once: disjoint splits
        _sorted_rows(torch.cat([images for images, _ in clean])), _sorted_rows(everything)
    )
    reference = DigitsDataModule(image_size=16, channels=1, val_fraction=0.15, test_fraction=0.35, seed=0)
    reference.setup()
    for split in ("train", "val", "test"):
        torch.testing.assert_close(getattr(blended.digits, split).tensors, getattr(reference, split).tensors)
        torch.testing.assert_close(getattr(blended, split).tensors[1], getattr(reference, split).tensors[1])


def test_shape_range_and_labels(blended):
    for split in (blended.train, blended.val, blended.test):
        images, labels = split.tensors
        assert images.shape[1:] == (3, 16, 16) and images.dtype == torch.float32
        assert 0.0 <= images.min() and images.max() <= 1.0
        assert set(labels.tolist()) == set(range(10))
    assert (blended.unlabeled.tensors[1] == UNLABELED).all()
    torch.testing.assert_close(blended.unlabeled.tensors[0], blended.train.tensors[0])
    assert blended.clean_train.tensors[0].shape == blended.train.tensors[0].shape
    assert blended.train.tensors[0].std(dim=(1, 2, 3)).mean() > 0.1  # photographs, not flat paper


def test_seed_fixes_the_images(blended):
    again = BlendedDigitsDataModule(image_size=16, seed=0)
    again.setup()
    torch.testing.assert_close(again.test.tensors[0], blended.test.tensors[0])
    other = BlendedDigitsDataModule(image_size=16, seed=1)
    other.setup()
    assert not torch.equal(other.test.tensors[0], blended.test.tensors[0])


def test_blend_is_absolute_difference_with_a_photo_patch():
    rng = np.random.default_rng(0)
    paper = blend_onto_photos(torch.zeros(4, 1, 12, 12), np.random.default_rng(5))
    ink = blend_onto_photos(torch.ones(4, 1, 12, 12), np.random.default_rng(5))
    torch.testing.assert_close(ink, 1.0 - paper)  # ink is the photo inverted, paper the photo
    digits = torch.from_numpy(rng.uniform(0, 1, (4, 1, 12, 12)).astype(np.float32))
    torch.testing.assert_close(blend_onto_photos(digits, np.random.default_rng(5)), (digits - paper).abs())


def test_source_textures_never_see_a_target_photo():
    assert not set(SOURCE_PHOTOS) & set(TARGET_PHOTOS)
    textures = [r for r in photo_digits_randomization() if isinstance(r, Texture)]
    assert len(textures) == 1 and set(textures[0].photos) == set(SOURCE_PHOTOS)
    assert Texture().photos == PHOTOS  # the clean-digit randomization keeps its bank
    assert all(p.ndim == 3 and p.shape[2] == 3 for p in bundled_photos(SOURCE_PHOTOS + TARGET_PHOTOS))


def test_syn_digits_datamodule_on_the_blended_target():
    data = SynDigitsDataModule(
        photo_digits_randomization(), length=16, channels=3, batch_size=8, with_target=True, target="blended"
    )
    data.setup("fit")
    source_images, _ = data.source.tensors
    assert source_images.shape == (16, 3, 16, 16)
    assert isinstance(data.real, BlendedDigitsDataModule)
    images, labels = next(iter(data.val_dataloader()))
    assert images.shape == (8, 3, 16, 16) and labels.min() >= 0
    assert (data.target.tensors[1] == UNLABELED).all()


def test_bad_input_raises_config_errors():
    with pytest.raises(LeydenConfigError):
        SynDigitsDataModule(target="mnist_m")
    with pytest.raises(LeydenConfigError):
        SynDigitsDataModule(target="blended", channels=1)
    with pytest.raises(LeydenConfigError):
        BlendedDigitsDataModule(photos=("lena",))
    with pytest.raises(LeydenConfigError):
        Texture(photos=("lena",))


def test_colour_flip_gives_both_polarities_with_contrast():
    mask = fit_glyph(glyph("DejaVuSans", "3"), 32)
    colour = Colour(background=(0.0, 0.3), objects=(0.7, 1.0), saturation=(0, 1), flip=0.5)
    polarities = []
    for index in range(40):
        image = Renderer([colour], 0).render(mask.copy(), index).image
        paper, ink = image[0, 0].max(), image[mask > 0.99].max(1).mean()  # HSV value = max channel
        assert abs(ink - paper) >= 0.4 - 1e-4
        polarities.append(ink > paper)
    assert 5 < sum(polarities) < 35
    never = Colour(background=(0.0, 0.3), objects=(0.7, 1.0))
    assert all(Renderer([never], 0).render(mask.copy(), i).image[0, 0].max() <= 0.3 + 1e-5 for i in range(10))
    with pytest.raises(LeydenConfigError):
        Colour(flip=1.5)
