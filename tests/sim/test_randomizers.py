"""Every randomizer family: deterministic per (seed, item), ranges respected, identity when off."""

from __future__ import annotations

import numpy as np
import pytest

from leyden_core.errors import LeydenConfigError
from leyden_sim.content import DigitContent, fit_glyph, glyph
from leyden_sim.randomizers import (
    FAMILIES,
    Blur,
    Camera,
    Colour,
    Distractors,
    Lighting,
    Noise,
    Stroke,
    Texture,
    full_randomization,
    shape_mask,
)
from leyden_sim.scene import Renderer, Scene
from leyden_sim.textures import TEXTURE_KINDS, bundled_photos, make_texture

SIZE = 32
MASK = fit_glyph(glyph("DejaVuSans", "3"), SIZE)

IDENTITY = {
    "stroke": Stroke(width=(0, 0), slant=(0, 0), aspect=(1, 1), elastic=(0, 0)),
    "distractors": Distractors(count=(0, 0)),
    "colour": Colour(background=(0, 0), objects=(1, 1), saturation=(0, 0)),
    "texture": Texture(probability=0.0),
    "camera": Camera(scale=(1, 1), rotation=(0, 0), translation=(0, 0), perspective=(0, 0)),
    "lighting": Lighting(brightness=(1, 1), contrast=(1, 1), shading=(0, 0)),
    "blur": Blur(sigma=(0, 0)),
    "noise": Noise(std=(0, 0)),
}


def render(randomizers, index=0, seed=0):
    return Renderer(randomizers, seed).render(MASK.copy(), index)


def test_no_randomization_is_white_on_black():
    frame = render([])
    np.testing.assert_allclose(frame.image[..., 0], MASK, atol=1e-6)
    np.testing.assert_allclose(frame.image[..., 0], frame.image[..., 2])


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_is_deterministic_and_changes_the_image(family):
    randomizer = FAMILIES[family]()
    images = [render([randomizer], index=i).image for i in range(6)]
    again = render([randomizer], index=3).image
    np.testing.assert_array_equal(images[3], again)
    assert any(not np.allclose(img, render([]).image) for img in images), family
    other_seed = Renderer([randomizer], seed=1).render(MASK.copy(), 3).image
    assert not np.allclose(other_seed, images[3]) or family == "distractors"


@pytest.mark.parametrize("family", sorted(IDENTITY))
def test_point_ranges_are_the_identity(family):
    np.testing.assert_allclose(render([IDENTITY[family]], index=5).image, render([]).image, atol=1e-5)


def test_removing_a_family_keeps_the_others_draws():
    """Each family has its own random stream: ablations change one thing only."""
    with_noise = render([Lighting(), Noise(std=(0, 0))], index=2).image
    without_noise = render([Lighting()], index=2).image
    np.testing.assert_array_equal(with_noise, without_noise)


def test_colour_values_within_ranges():
    colour = Colour(background=(0.1, 0.2), objects=(0.7, 0.8), saturation=(0, 1))
    for i in range(20):
        frame = render([colour], index=i)
        assert 0.1 - 1e-5 <= frame.image[0, 0].max() <= 0.2 + 1e-5  # HSV value = max channel
        ink = frame.image[MASK > 0.99]
        assert np.all((ink.max(1) >= 0.7 - 0.01) & (ink.max(1) <= 0.8 + 0.01))  # edges: alpha 0.99


def test_lighting_brightness_range():
    base = render([]).image.mean()
    for i in range(10):
        ratio = (
            render([Lighting(brightness=(0.5, 0.7), contrast=(1, 1), shading=(0, 0))], index=i).image.mean()
            / base
        )
        assert 0.5 - 1e-4 <= ratio <= 0.7 + 1e-4


def test_noise_std_range():
    for i in range(5):
        residual = render([Noise(std=(0.05, 0.06))], index=i).image - render([]).image
        inside = residual[(MASK > 0.01) & (MASK < 0.99) | (MASK == 0)]  # where clipping does not bite much
        assert 0.02 < np.abs(residual).mean() < 0.06
        assert inside.size


def test_blur_spreads_ink():
    sharp, blurred = render([]).image, render([Blur(sigma=(1.5, 1.5))]).image
    assert (blurred > 0.05).sum() > (sharp > 0.05).sum()
    assert blurred.sum() == pytest.approx(sharp.sum(), rel=0.05)


def test_distractor_count_range():
    scene = Scene.plain(MASK.copy())
    counts = {
        len(Distractors(count=(1, 3))(Scene.plain(MASK.copy()), np.random.default_rng(i)).layers) - 1
        for i in range(30)
    }
    assert counts == {1, 2, 3} and scene.target.is_target


def test_camera_translation_moves_target():
    cam = Camera(scale=(1, 1), rotation=(0, 0), translation=(0.2, 0.2), perspective=(0, 0))
    dot = shape_mask("circle", SIZE, (10.0, 12.0), 6.0, 0.0)
    moved = Renderer([cam]).render(dot, 0).target_position() - Renderer([]).render(dot, 0).target_position()
    np.testing.assert_allclose(moved, [0.2 * SIZE / (SIZE - 1)] * 2, atol=0.02)


def test_stroke_width_thickens():
    thick = render([Stroke(width=(2, 2), slant=(0, 0), aspect=(1, 1), elastic=(0, 0))]).target_mask
    thin = render([Stroke(width=(-0.6, -0.6), slant=(0, 0), aspect=(1, 1), elastic=(0, 0))]).target_mask
    assert thick.sum() > MASK.sum() > thin.sum() > 0


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_textures_are_valid_images(kind):
    texture = make_texture(kind, 16, np.random.default_rng(0))
    assert texture.shape == (16, 16, 3) and texture.dtype == np.float32
    assert 0.0 <= texture.min() and texture.max() <= 1.0


def test_bundled_photos_load_without_download():
    photos = bundled_photos()
    assert len(photos) >= 10 and all(p.ndim == 3 and p.shape[2] == 3 for p in photos)


def test_bad_input_raises_config_errors():
    with pytest.raises(LeydenConfigError):
        Blur(sigma=(2, 1))
    with pytest.raises(LeydenConfigError):
        Texture(kinds=("plaid",))
    with pytest.raises(LeydenConfigError):
        Renderer([Blur(), Blur()])
    with pytest.raises(LeydenConfigError):
        full_randomization(exclude=["colour", "sparkles"])
    with pytest.raises(LeydenConfigError):
        DigitContent(fonts=("ComicSans",))
