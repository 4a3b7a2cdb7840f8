"""What the scene shows before randomization: digit glyphs from offline fonts, or a target shape.

Fonts: Pillow's bundled scalable font (``ImageFont.load_default(size=...)``), matplotlib's
bundled DejaVu family — both installed with the package, nothing is downloaded — and two
variants of a single-stroke "pen" font defined here as polylines (``hand-a``, ``hand-b``): typeset
digits have closed 4s and serif 1s, handwriting mostly does not.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont
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
HAND = ("hand-a", "hand-b")
FONTS = ("pillow", *DEJAVU, *HAND)


def _arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int = 16) -> list:
    """Points on an ellipse arc; angles in degrees, 0 = right, 90 = down (image coordinates)."""
    t = np.deg2rad(np.linspace(start, end, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


# Pen strokes in a 0.6 × 1 box (x right, y down); two variants per digit.
PEN_STROKES: dict[str, tuple[list[list], list[list]]] = {
    "0": ([_arc(0.3, 0.5, 0.28, 0.48, 0, 360)], [_arc(0.3, 0.5, 0.22, 0.48, -80, 290)]),
    "1": (
        [[(0.05, 0.3), (0.35, 0.0), (0.35, 1.0)], [(0.1, 1.0), (0.6, 1.0)]],
        [[(0.1, 0.22), (0.34, 0.0), (0.34, 1.0)]],
    ),
    "2": (
        [_arc(0.3, 0.27, 0.27, 0.26, 200, 390) + [(0.02, 1.0), (0.6, 1.0)]],
        [_arc(0.3, 0.3, 0.26, 0.28, 190, 400) + [(0.05, 0.95), (0.6, 0.98)]],
    ),
    "3": (
        [_arc(0.3, 0.25, 0.25, 0.24, 200, 450), _arc(0.3, 0.74, 0.28, 0.26, 270, 520)],
        [[(0.05, 0.0), (0.55, 0.0), (0.25, 0.4)] + _arc(0.3, 0.7, 0.28, 0.3, 270, 520)],
    ),
    "4": (
        [[(0.08, 0.0), (0.02, 0.6), (0.6, 0.6)], [(0.45, 0.2), (0.45, 1.0)]],
        [[(0.45, 1.0), (0.45, 0.0), (0.0, 0.68), (0.6, 0.68)]],
    ),
    "5": (
        [[(0.55, 0.0), (0.1, 0.0), (0.06, 0.45)] + _arc(0.3, 0.7, 0.28, 0.28, 225, 510)],
        [[(0.1, 0.0), (0.06, 0.45)] + _arc(0.3, 0.7, 0.28, 0.28, 225, 510), [(0.1, 0.0), (0.58, 0.0)]],
    ),
    "6": (
        [[(0.5, 0.0), (0.25, 0.2), (0.08, 0.5), (0.05, 0.7)], _arc(0.3, 0.72, 0.26, 0.27, 0, 360)],
        [_arc(0.55, 0.6, 0.5, 0.6, 250, 180) + _arc(0.3, 0.75, 0.25, 0.24, 180, 540)],
    ),
    "7": (
        [[(0.0, 0.0), (0.6, 0.0), (0.2, 1.0)]],
        [[(0.0, 0.0), (0.6, 0.0), (0.25, 1.0)], [(0.12, 0.5), (0.5, 0.5)]],
    ),
    "8": (
        [_arc(0.3, 0.25, 0.22, 0.24, 0, 360), _arc(0.3, 0.73, 0.28, 0.26, 0, 360)],
        [_arc(0.3, 0.25, 0.25, 0.24, 90, 450), _arc(0.3, 0.74, 0.25, 0.25, -90, 270)],
    ),
    "9": (
        [_arc(0.3, 0.28, 0.27, 0.27, 0, 360), [(0.57, 0.28), (0.5, 1.0)]],
        [_arc(0.3, 0.3, 0.27, 0.29, 0, 360), [(0.57, 0.3), (0.52, 0.75), (0.3, 1.0), (0.05, 0.92)]],
    ),
}


def _pen_glyph(variant: int, char: str, size: int) -> Image.Image:
    canvas = Image.new("L", (2 * size, 2 * size), 0)
    draw = ImageDraw.Draw(canvas)
    width = max(1, size // 10)
    for stroke in PEN_STROKES[char][variant]:
        points = [(size // 2 + x * size, size // 4 + y * size) for x, y in stroke]
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):  # round pen caps
            draw.ellipse([x - width / 2, y - width / 2, x + width / 2, y + width / 2], fill=255)
    return canvas


def _load_font(name: str, size: int) -> ImageFont.FreeTypeFont:
    if name == "pillow":
        return ImageFont.load_default(size=size)
    if name not in DEJAVU:
        raise LeydenConfigError(f"unknown font {name!r}", f"use fonts from {FONTS}")
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / f"{name}.ttf"), size)


@lru_cache(maxsize=256)
def glyph(font: str, char: str, size: int = 96) -> np.ndarray:
    """The glyph of ``char`` cropped to its ink, as a float mask (cached per process)."""
    if font in HAND:
        canvas = _pen_glyph(HAND.index(font), char, size)
    else:
        canvas = Image.new("L", (2 * size, 2 * size), 0)
        ImageDraw.Draw(canvas).text((size // 2, size // 4), char, font=_load_font(font, size), fill=255)
    ink = np.asarray(canvas, np.float32) / 255.0
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


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
    """Digit ``index % 10`` in a font drawn per item from ``fonts``: balanced classes by construction."""

    num_classes = 10

    def __init__(self, fonts: tuple[str, ...] = FONTS, height: float = 1.0) -> None:
        for font in fonts:
            if font not in FONTS:
                raise LeydenConfigError(f"unknown font {font!r}", f"use fonts from {FONTS}")
        self.fonts = tuple(fonts)
        self.height = height

    def __call__(self, index: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        label = index % 10
        font = self.fonts[int(rng.integers(len(self.fonts)))]
        return fit_glyph(glyph(font, str(label)), size, self.height), label


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
