"""The procedural pen font: drawn per item from the item's rng, every digit inked, prototypes distinct."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_sim.content import PROTOTYPES, TYPESET, DigitContent, fit_glyph, glyph, pen_glyph
from leyden_sim.datamodules import digits_randomization
from leyden_sim.datasets import syn_digits


def test_pen_glyph_is_reproducible_by_seed_and_new_per_draw():
    first = pen_glyph("4", np.random.default_rng(7))
    np.testing.assert_array_equal(first, pen_glyph("4", np.random.default_rng(7)))
    rng = np.random.default_rng(7)
    draws = [fit_glyph(pen_glyph("4", rng), 32) for _ in range(2)]
    assert not np.array_equal(*draws)  # not cached: the same rng draws a new glyph


@pytest.mark.parametrize("digit", "0123456789")
def test_every_digit_and_prototype_inks_inside_the_canvas(digit):
    for prototype in range(len(PROTOTYPES[digit])):
        for seed in range(5):
            ink = pen_glyph(digit, np.random.default_rng(seed), prototype)
            # the 128 px canvas is never touched at its edge: a glyph is ~64 px high plus the pen
            assert 50 < ink.shape[0] < 100 and 10 < ink.shape[1] < 100, (digit, prototype, ink.shape)
            mask = fit_glyph(ink, 32)
            assert 0.05 < (mask > 0.5).mean() < 0.6, (digit, prototype)


def test_prototypes_of_a_digit_differ():
    def iou(a: np.ndarray, b: np.ndarray) -> float:
        return float((a & b).sum() / (a | b).sum())

    for digit, prototypes in PROTOTYPES.items():
        assert len(prototypes) >= 2, digit
        masks = [
            fit_glyph(pen_glyph(digit, np.random.default_rng(0), k, jitter=0.0), 32) > 0.5
            for k in range(len(prototypes))
        ]
        for i in range(len(masks)):
            for j in range(i + 1, len(masks)):
                assert iou(masks[i], masks[j]) < 0.85, (digit, i, j)


def test_pen_fraction_mixes_pen_and_typeset():
    typeset = {font: fit_glyph(glyph(font, "2"), 32) for font in TYPESET}
    only_typeset = DigitContent(pen_fraction=0.0)
    only_pen = DigitContent(pen_fraction=1.0)
    for seed in range(4):
        mask, label = only_typeset(2, 32, np.random.default_rng(seed))
        assert label == 2 and any(np.array_equal(mask, m) for m in typeset.values())
        mask, _ = only_pen(2, 32, np.random.default_rng(seed))
        assert not any(np.array_equal(mask, m) for m in typeset.values())
    assert DigitContent(fonts=("pen",)).pen_fraction == 1.0
    assert DigitContent(fonts=TYPESET, pen_fraction=0.9).pen_fraction == 0.0
    assert DigitContent(pen_fraction=None).pen_fraction == 1 / (len(TYPESET) + 1)


def test_syn_digits_with_pen_are_reproducible_by_seed():
    def make(seed: int):
        return syn_digits(digits_randomization(), length=20, seed=seed, pen_fraction=1.0, image_size=16)

    dataset = make(3)
    torch.testing.assert_close(dataset[5][0], make(3)[5][0])
    assert not torch.equal(dataset[5][0], make(4)[5][0])
    assert not torch.equal(dataset[5][0], dataset[15][0])  # same digit, a new glyph


def test_bad_fonts_and_fractions_raise_config_errors():
    with pytest.raises(LeydenConfigError, match="unknown fonts"):
        DigitContent(fonts=("ComicSans",))
    with pytest.raises(LeydenConfigError):
        DigitContent(fonts=())
    with pytest.raises(LeydenConfigError, match="pen_fraction"):
        DigitContent(pen_fraction=1.5)
    with pytest.raises(LeydenConfigError):
        glyph("pen", "3")  # the pen font has no fixed glyph: it is drawn per item
