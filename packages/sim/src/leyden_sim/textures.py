"""Procedural textures and real photo patches, all as float (H, W, 3) arrays in [0, 1].

Tobin et al. (2017) randomize every surface between random RGB, gradient and checker textures;
value noise and crops of real photographs (bundled with scikit-image and scikit-learn, so
nothing is downloaded) widen the distribution further.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from skimage.transform import rescale, resize

from leyden_core.errors import LeydenConfigError

TEXTURE_KINDS = ("flat", "gradient", "checker", "noise", "photo")

# scikit-image images that ship inside the wheel (no pooch download) + scikit-learn's two photos.
SKIMAGE_PHOTOS = (
    "astronaut",
    "brick",
    "camera",
    "chelsea",
    "coffee",
    "grass",
    "gravel",
    "rocket",
    "coins",
    "moon",
    "page",
    "text",
)


@lru_cache(maxsize=1)
def bundled_photos() -> tuple[np.ndarray, ...]:
    """The bundled photographs as float RGB arrays in [0, 1], at most 160 px (loaded once per process)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = [getattr(skimage.data, name)() for name in SKIMAGE_PHOTOS]
    photos += list(load_sample_images().images)
    out = []
    for photo in photos:
        photo = np.asarray(photo, dtype=np.float32)
        photo = photo / 255.0 if photo.max() > 1.0 else photo
        if photo.ndim == 2:
            photo = np.repeat(photo[..., None], 3, axis=2)
        photo = photo[..., :3]
        shrink = 160 / max(photo.shape[:2])  # patches are small; keep cropping and resizing cheap
        photo = rescale(photo, shrink, channel_axis=2, anti_aliasing=True) if shrink < 1 else photo
        out.append(np.ascontiguousarray(photo, dtype=np.float32))
    return tuple(out)


def random_colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.0, 1.0, size=3).astype(np.float32)


def _pattern(kind: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A (size, size) field in [0, 1] that mixes two colours."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    if kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        field = np.cos(angle) * xx + np.sin(angle) * yy
        return (field - field.min()) / (field.max() - field.min() + 1e-8)
    if kind == "checker":
        period = rng.uniform(0.08, 0.5)
        angle = rng.uniform(0, np.pi / 2)
        u = np.cos(angle) * xx + np.sin(angle) * yy
        v = -np.sin(angle) * xx + np.cos(angle) * yy
        return ((np.floor(u / period) + np.floor(v / period)) % 2).astype(np.float32)
    if kind == "noise":
        cells = int(rng.integers(2, 9))
        coarse = rng.uniform(0, 1, size=(cells, cells)).astype(np.float32)
        return resize(coarse, (size, size), order=3, mode="reflect").clip(0, 1).astype(np.float32)
    raise LeydenConfigError(f"unknown texture kind {kind!r}", f"use one of {TEXTURE_KINDS}")


def make_texture(
    kind: str, size: int, rng: np.random.Generator, base: np.ndarray | None = None
) -> np.ndarray:
    """One texture of ``kind``. ``base`` (a colour) is one of the two colours mixed, when given."""
    if kind not in TEXTURE_KINDS:
        raise LeydenConfigError(f"unknown texture kind {kind!r}", f"use one of {TEXTURE_KINDS}")
    first = random_colour(rng) if base is None else np.asarray(base, dtype=np.float32)
    if kind == "flat":
        return np.broadcast_to(first, (size, size, 3)).copy()
    if kind == "photo":
        photos = bundled_photos()
        photo = photos[int(rng.integers(len(photos)))]
        h, w = photo.shape[:2]
        side = int(rng.integers(max(8, min(h, w) // 8), min(h, w) + 1))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        patch = photo[top : top + side, left : left + side]
        return resize(patch, (size, size), order=1, anti_aliasing=True).astype(np.float32)
    second = random_colour(rng)
    field = _pattern(kind, size, rng)[..., None]
    return ((1 - field) * first + field * second).astype(np.float32)
