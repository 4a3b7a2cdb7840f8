"""What the scene shows before randomization: digit glyphs from offline fonts, or a target shape.

Fonts: Pillow's bundled scalable font (``ImageFont.load_default(size=...)``) and matplotlib's
bundled DejaVu family — both installed with the package, nothing is downloaded — and ``pen``, a
procedural single-stroke handwriting font defined here. Typeset digits have closed 4s, serif 1s
and one shape per digit; handwriting does not, so ``pen`` draws a new glyph for every item: one of
several prototypes of the digit (the common handwritten forms: 1 with or without flag and base,
open and closed 4, 7 with or without bar, ...) with its arc radii and angles randomized and its
control points moved by a smooth random offset field. The pen width is left to
:class:`~leyden_sim.randomizers.Stroke`, the one place that thickens strokes.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage
from skimage.transform import resize

from leyden_core.errors import LeydenConfigError
from leyden_sim.randomizers import SHAPES, shape_mask

DEJAVU = (
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSans-BoldOblique",
    "DejaVuSansMono",
    "DejaVuSansMono-Bold",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSerif-BoldItalic",
)
TYPESET = ("pillow", *DEJAVU)
PEN = "pen"
FONTS = (*TYPESET, PEN)
# Share of "pen" items by default; chosen on the real validation split (benchmarks/sim.md).
PEN_FRACTION = 0.65

Polyline = list[tuple[float, float]]


class _Pen:
    """The random draws of one handwritten glyph, in a 0.6 × 1 box (x right, y down)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def u(self, low: float, high: float) -> float:
        return float(self.rng.uniform(low, high))

    def arc(self, cx: float, cy: float, rx: float, ry: float, start: float, end: float) -> Polyline:
        """Ellipse arc with jittered centre, radii (±15%) and end angles (±15°); degrees, 0 = right,
        90 = down (image coordinates)."""
        cx, cy = cx + self.u(-0.03, 0.03), cy + self.u(-0.03, 0.03)
        rx, ry = rx * self.u(0.85, 1.15), ry * self.u(0.85, 1.15)
        t = np.deg2rad(np.linspace(start + self.u(-15, 15), end + self.u(-15, 15), 24))
        return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))

    def figure_eight(self) -> Polyline:
        """One-stroke 8 (lemniscate of Gerono), started anywhere on the upper loop."""
        rx, start = self.u(0.2, 0.3), self.u(-0.6, 0.6)
        t = np.linspace(start, start + 2 * np.pi + self.u(0.0, 0.4), 48)
        return list(zip(0.3 + rx * np.sin(2 * t), 0.5 - 0.5 * np.cos(t)))


# Several prototypes per digit: the common handwritten forms, each a list of pen strokes.
PROTOTYPES: dict[str, tuple[Callable[[_Pen], list[Polyline]], ...]] = {
    "0": (
        lambda p: [p.arc(0.3, 0.5, 0.26, 0.48, -90, 280)],  # closed oval, overlapping at the top
        lambda p: [p.arc(0.3, 0.5, 0.2, 0.48, -70, 250)],  # narrow, open at the top
    ),
    "1": (
        lambda p: [[(0.3 + p.u(-0.05, 0.05), 0.0), (0.3 + p.u(-0.08, 0.02), 1.0)]],  # a bar
        lambda p: [[(p.u(0.0, 0.15), p.u(0.12, 0.35)), (0.36, 0.0), (0.34, 1.0)]],  # with flag
        lambda p: [
            [(p.u(0.0, 0.15), p.u(0.12, 0.35)), (0.36, 0.0), (0.34, 1.0)],
            [(p.u(0.05, 0.15), 1.0), (p.u(0.5, 0.6), 1.0)],
        ],  # flag and base
    ),
    "2": (
        lambda p: [p.arc(0.3, 0.28, 0.27, 0.26, 195, 395) + [(p.u(0.0, 0.08), 1.0), (p.u(0.5, 0.62), 0.98)]],
        lambda p: [
            p.arc(0.3, 0.28, 0.27, 0.26, 195, 395)
            + [(0.08, 0.88)]
            + p.arc(0.15, 0.87, 0.09, 0.09, 180, -120)
            + [(p.u(0.5, 0.62), p.u(0.92, 1.0))]
        ],  # loop at the bottom
        lambda p: [[(0.02, p.u(0.05, 0.2)), (0.3, 0.0), (0.58, 0.15), (0.02, 1.0), (0.6, 1.0)]],  # Z-like
    ),
    "3": (
        lambda p: [p.arc(0.3, 0.25, 0.25, 0.24, 200, 450) + p.arc(0.3, 0.74, 0.28, 0.26, 270, 520)],
        lambda p: [
            [(0.05, 0.0), (0.55, 0.0), (0.25, p.u(0.35, 0.45))] + p.arc(0.3, 0.7, 0.28, 0.3, 270, 520)
        ],
    ),
    "4": (
        lambda p: [
            [(p.u(0.03, 0.2), 0.0), (0.0, (y := p.u(0.55, 0.7))), (0.6, y)],
            [(0.45, p.u(0.0, 0.35)), (0.45, 1.0)],
        ],  # open
        lambda p: [[(0.45, 1.0), (0.45, 0.0), (0.0, (y := p.u(0.6, 0.72))), (0.6, y)]],  # closed
    ),
    "5": (
        lambda p: [
            [(0.1, 0.0), (0.06, 0.45)] + p.arc(0.3, 0.7, 0.28, 0.28, 225, 510),
            [(0.1, 0.0), (p.u(0.5, 0.62), p.u(-0.03, 0.03))],
        ],  # flag drawn separately
        lambda p: [[(p.u(0.5, 0.62), 0.0), (0.1, 0.0), (0.06, 0.45)] + p.arc(0.3, 0.7, 0.28, 0.28, 225, 510)],
    ),
    "6": (
        lambda p: [p.arc(0.55, 0.6, 0.5, 0.6, 250, 180) + p.arc(0.3, 0.75, 0.25, 0.24, 180, 540)],  # curved
        lambda p: [[(0.5, 0.0), (0.25, 0.2), (0.08, 0.5), (0.05, 0.7)], p.arc(0.3, 0.72, 0.26, 0.27, 0, 360)],
    ),
    "7": (
        lambda p: [[(0.0, 0.0), (0.6, 0.0), (p.u(0.1, 0.3), 1.0)]],
        lambda p: [[(0.0, 0.0), (0.6, 0.0), (p.u(0.15, 0.3), 1.0)], [(0.12, 0.5), (0.52, 0.5)]],  # bar
        lambda p: [[(0.02, p.u(0.1, 0.25)), (0.02, 0.0), (0.6, 0.0), (p.u(0.1, 0.3), 1.0)]],  # hook
    ),
    "8": (
        lambda p: [p.arc(0.3, 0.25, 0.22, 0.24, 90, 450), p.arc(0.3, 0.74, 0.28, 0.26, -90, 270)],
        lambda p: [p.figure_eight()],
    ),
    "9": (
        lambda p: [p.arc(0.3, 0.28, 0.27, 0.27, 0, 360), [(0.57, 0.28), (p.u(0.45, 0.57), 1.0)]],  # straight
        lambda p: [
            p.arc(0.3, 0.22, p.u(0.2, 0.28), 0.2, 0, 360),
            [(0.55, 0.22)] + p.arc(0.3, 0.65, 0.28, 0.35, -10, 140),
        ],  # small loop, tail curving back to the left
        lambda p: [p.arc(0.3, 0.28, 0.27, 0.27, 10, -350) + [(p.u(0.45, 0.57), 1.0)]],  # one stroke
    ),
}


def _smooth_offsets(points: np.ndarray, amplitude: float, rng: np.random.Generator) -> np.ndarray:
    """Move (N, 2) box points by a smooth random field: offsets on a 3 × 3 grid, bilinear between."""
    grid = rng.normal(0.0, amplitude, (2, 3, 3))
    coords = [np.clip(points[:, 1], 0, 1) * 2, np.clip(points[:, 0] / 0.6, 0, 1) * 2]
    return points + np.stack([ndimage.map_coordinates(g, coords, order=1) for g in grid], 1)


def pen_glyph(
    char: str,
    rng: np.random.Generator,
    prototype: int | None = None,
    size: int = 64,
    jitter: float = 0.04,
    pen_width: float = 0.2,
) -> np.ndarray:
    """A new handwritten ``char``: a prototype (random if ``None``), randomized arcs, control points
    moved by a smooth offset field of std ``jitter`` (box units); cropped to its ink, as a float
    mask. The base ``pen_width`` (fraction of the glyph height) gives the real digits' mean ink
    once :class:`~leyden_sim.randomizers.Stroke` has varied it."""
    prototypes = PROTOTYPES[char]
    if prototype is None:
        prototype = int(rng.integers(len(prototypes)))
    strokes = prototypes[prototype](_Pen(rng))
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(size * pen_width))
    for stroke in strokes:
        moved = _smooth_offsets(np.asarray(stroke, np.float64), jitter, rng)
        points = [(size // 2 + x * size, size // 4 + y * size) for x, y in moved]
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen caps
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    return _crop(np.asarray(canvas, np.float32) / 255.0)


def _crop(ink: np.ndarray) -> np.ndarray:
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    if name == "pillow":
        return ImageFont.load_default(size=size)
    if name not in DEJAVU:
        raise LeydenConfigError(f"unknown typeset font {name!r}", f"use fonts from {TYPESET}")
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"), size)


@lru_cache(maxsize=256)
def glyph(font: str, char: str, size: int = 96) -> np.ndarray:
    """The typeset glyph of ``char`` cropped to its ink, as a float mask (cached per process)."""
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    ImageDraw.Draw(canvas).text((size // 2, size // 4), char, font=_load_font(font, size), fill=255)
    return _crop(np.asarray(canvas, np.float32) / 255.0)


def fit_glyph(ink: np.ndarray, size: int, height: float = 1.0) -> np.ndarray:
    """Scale a glyph to ``height`` × the canvas height (aspect kept, width capped) and centre it.

    NIST-style normalization, as in scikit-learn's digits: every digit spans the full height.
    """
    h, w = ink.shape
    scale = min(height * size / h, size / w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    small = resize(ink, (new_h, new_w), order=1, anti_aliasing=True).astype(np.float32)
    mask = np.zeros((size, size), np.float32)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    mask[top : top + new_h, left : left + new_w] = small
    return mask


class DigitContent:
    """Digit ``index % 10`` (balanced classes by construction) in a font drawn per item.

    Args:
        fonts: the fonts to draw from (names in ``FONTS``; ``"pen"`` is the procedural handwriting).
        pen_fraction: share of items drawn with ``"pen"`` when ``fonts`` holds it and typeset fonts;
            the rest is uniform over the typeset fonts. ``None``: every font equally likely. Default
            ``PEN_FRACTION``.
        height: glyph height as a fraction of the canvas.
    """

    num_classes = 10

    def __init__(
        self, fonts: tuple[str, ...] = FONTS, height: float = 1.0, pen_fraction: float | None = PEN_FRACTION
    ) -> None:
        if not fonts or any(font not in FONTS for font in fonts):
            raise LeydenConfigError(f"unknown fonts in {tuple(fonts)!r}", f"use fonts from {FONTS}")
        if pen_fraction is not None and not 0.0 <= pen_fraction <= 1.0:
            raise LeydenConfigError(f"pen_fraction must be in [0, 1], got {pen_fraction}", "e.g. 0.5")
        self.typeset = tuple(f for f in fonts if f != PEN)
        if not self.typeset:
            self.pen_fraction = 1.0
        elif PEN not in fonts:
            self.pen_fraction = 0.0
        else:
            self.pen_fraction = 1 / len(fonts) if pen_fraction is None else pen_fraction
        self.height = height

    def __call__(self, index: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        label = index % 10
        if rng.uniform() < self.pen_fraction:
            ink = pen_glyph(str(label), rng)
        else:
            ink = glyph(self.typeset[int(rng.integers(len(self.typeset)))], str(label))
        return fit_glyph(ink, size, self.height), label


class ShapeContent:
    """A target shape (class = its index in ``shapes``) at a random position on the table."""

    def __init__(self, shapes: tuple[str, ...] = SHAPES, size: tuple[float, float] = (0.15, 0.3)) -> None:
        for shape in shapes:
            if shape not in SHAPES:
                raise LeydenConfigError(f"unknown shape {shape!r}", f"use shapes from {SHAPES}")
        self.shapes = tuple(shapes)
        self.num_classes = len(shapes)
        self.size = size

    def __call__(self, index: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        label = index % self.num_classes
        extent = rng.uniform(*self.size) * size
        centre = tuple(rng.uniform(extent / 2, size - extent / 2, 2))
        return shape_mask(self.shapes[label], size, centre, extent, rng.uniform(0, 2 * np.pi)), label
