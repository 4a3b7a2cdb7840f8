"""Procedural textures and real photo patches, all as float (H, W, 3) arrays in [0, 1].

Tobin et al. (2017) randomize every surface between random RGB, gradient and checker textures;
value noise and crops of real photographs (bundled with scikit-image and scikit-learn, so
nothing is downloaded) widen the distribution further.
"""

from __future__ import annotations

from functools import cache

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
SKLEARN_PHOTOS = ("china", "flower")
PHOTOS = (*SKIMAGE_PHOTOS, *SKLEARN_PHOTOS)
"""The default texture bank (every photo ``Texture`` draws from unless told otherwise)."""
EXTRA_PHOTOS = ("motorcycle", "hubble_deep_field", "immunohistochemistry", "retina", "clock", "cell")
"""More bundled scikit-image images, outside the default bank."""

# Two disjoint photo sets for the sim-to-real benchmark on blended digits: the target's backgrounds
# are the natural colour photographs (like MNIST-M's BSDS500 crops); the source's textures are the
# rest, so randomization never sees a target photo.
TARGET_PHOTOS = ("china", "flower", "astronaut", "chelsea", "coffee", "rocket", "motorcycle")
SOURCE_PHOTOS = tuple(name for name in (*PHOTOS, *EXTRA_PHOTOS) if name not in TARGET_PHOTOS)


def _raw_photo(name: str) -> np.ndarray:
    import skimage.data

    if name in SKLEARN_PHOTOS:
        from sklearn.datasets import load_sample_image

        return load_sample_image(f"{name}.jpg")
    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]  # the left view
    if name in SKIMAGE_PHOTOS or name in EXTRA_PHOTOS:
        return getattr(skimage.data, name)()
    raise LeydenConfigError(f"unknown photo {name!r}", f"use photos from {PHOTOS + EXTRA_PHOTOS}")


@cache
def load_photo(name: str) -> np.ndarray:
    """One bundled photograph as a float RGB array in [0, 1], at most 160 px (loaded once per process)."""
    photo = np.asarray(_raw_photo(name), dtype=np.float32)
    photo = photo / 255.0 if photo.max() > 1.0 else photo
    if photo.ndim == 2:
        photo = np.repeat(photo[..., None], 3, axis=2)
    photo = photo[..., :3]
    shrink = 160 / max(photo.shape[:2])  # patches are small; keep cropping and resizing cheap
    photo = rescale(photo, shrink, channel_axis=2, anti_aliasing=True) if shrink < 1 else photo
    return np.ascontiguousarray(photo, dtype=np.float32)


def bundled_photos(names: tuple[str, ...] = PHOTOS) -> tuple[np.ndarray, ...]:
    """The named bundled photographs (default: the texture bank), see :func:`load_photo`."""
    if not names:
        raise LeydenConfigError("no photos given", f"name photos from {PHOTOS + EXTRA_PHOTOS}")
    return tuple(load_photo(name) for name in names)


def random_crop(
    photo: np.ndarray, size: int, rng: np.random.Generator, sides: tuple[int, int] | None = None
) -> np.ndarray:
    """A random square crop, resized to (size, size, 3). ``sides``: the range of the crop's side in
    photo pixels (default: from 8 px, or 1/8 of the photo, to the whole photo)."""
    h, w = photo.shape[:2]
    low, high = sides if sides is not None else (max(8, min(h, w) // 8), min(h, w))
    side = int(rng.integers(min(low, h, w), min(high, h, w) + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    patch = photo[top : top + side, left : left + side]
    return resize(patch, (size, size), order=1, anti_aliasing=True).astype(np.float32)


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
    kind: str,
    size: int,
    rng: np.random.Generator,
    base: np.ndarray | None = None,
    photos: tuple[str, ...] = PHOTOS,
) -> np.ndarray:
    """One texture of ``kind``. ``base`` (a colour) is one of the two colours mixed, when given;
    ``photos`` names the photographs a ``"photo"`` texture is cropped from."""
    if kind not in TEXTURE_KINDS:
        raise LeydenConfigError(f"unknown texture kind {kind!r}", f"use one of {TEXTURE_KINDS}")
    first = random_colour(rng) if base is None else np.asarray(base, dtype=np.float32)
    if kind == "flat":
        return np.broadcast_to(first, (size, size, 3)).copy()
    if kind == "photo":
        bank = bundled_photos(photos)
        return random_crop(bank[int(rng.integers(len(bank)))], size, rng)
    second = random_colour(rng)
    field = _pattern(kind, size, rng)[..., None]
    return ((1 - field) * first + field * second).astype(np.float32)
