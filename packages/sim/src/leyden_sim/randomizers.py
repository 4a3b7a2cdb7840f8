"""The randomizer families: small objects with ranges, composed by :class:`~leyden_sim.scene.Renderer`.

Each family is one class. A range at a single point (``(0, 0)``, ``(1, 1)``) makes the family
the identity, so a family can also be switched off by giving its nominal point range.
Pipeline order: stroke → distractors → colour → texture → camera | lighting → blur → noise.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage.transform import ProjectiveTransform, warp

from leyden_core.errors import LeydenConfigError
from leyden_sim.scene import (
    Frame,
    ImageRandomizer,
    Layer,
    Range,
    Scene,
    SceneRandomizer,
    check_range,
    uniform,
)
from leyden_sim.textures import PHOTOS, TEXTURE_KINDS, bundled_photos, make_texture

SHAPES = ("circle", "square", "triangle", "line", "ring")


class Stroke(SceneRandomizer):
    """Pen of the target: stroke width (signed radius in px), slant (shear), aspect (horizontal
    squeeze of the glyph), elastic wobble (px).

    Elastic displacement fields smoothed by a Gaussian are Simard et al.'s (2003) model of
    handwriting variation; it is what turns typeset glyphs into plausible handwriting.
    """

    order = 0

    def __init__(
        self,
        width: Sequence[float] = (-0.5, 2.5),
        slant: Sequence[float] = (-0.35, 0.35),
        aspect: Sequence[float] = (0.6, 1.0),
        elastic: Sequence[float] = (0.0, 2.5),
        elastic_sigma: float = 4.0,
    ) -> None:
        self.width = check_range("width", width)
        self.slant = check_range("slant", slant)
        self.aspect = check_range("aspect", aspect, lower=1e-2)
        self.elastic = check_range("elastic", elastic, lower=0.0)
        self.elastic_sigma = elastic_sigma

    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        target = scene.target
        mask = target.mask
        radius = uniform(rng, self.width)
        if radius != 0.0:
            outside = ndimage.distance_transform_edt(mask < 0.5)
            inside = ndimage.distance_transform_edt(mask >= 0.5)
            mask = np.clip(radius + 0.5 - (outside - inside), 0.0, 1.0).astype(np.float32)
        shear, aspect, amplitude = (
            uniform(rng, self.slant),
            uniform(rng, self.aspect),
            uniform(rng, self.elastic),
        )
        if shear != 0.0 or aspect != 1.0 or amplitude != 0.0:
            size = mask.shape[0]
            centre = (size - 1) / 2
            ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
            xs = (xs - centre) / aspect + centre + shear * (ys - centre)  # squeeze, then italic slant
            if amplitude != 0.0:
                for coords in (ys, xs):
                    field = ndimage.gaussian_filter(rng.uniform(-1, 1, (size, size)), self.elastic_sigma)
                    coords += amplitude * field / (np.abs(field).max() + 1e-8)
            mask = ndimage.map_coordinates(mask, [ys, xs], order=1, mode="constant").astype(np.float32)
        target.mask = mask
        return scene


def shape_mask(shape: str, size: int, centre: tuple[float, float], extent: float, angle: float) -> np.ndarray:
    """An anti-aliasing-free (S, S) mask of one shape of diameter ``extent`` px."""
    if shape not in SHAPES:
        raise LeydenConfigError(f"unknown shape {shape!r}", f"use one of {SHAPES}")
    canvas = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(canvas)
    cx, cy = centre
    r = extent / 2
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=255, width=max(1, round(r / 3)))
    else:
        corners = {"square": 4, "triangle": 3, "line": 2}[shape]
        phis = angle + 2 * np.pi * np.arange(corners) / corners
        points = [(cx + r * np.cos(p), cy + r * np.sin(p)) for p in phis]
        if shape == "line":
            draw.line(points, fill=255, width=max(1, round(r / 4)))
        else:
            draw.polygon(points, fill=255)
    return np.asarray(canvas, np.float32) / 255.0


class Distractors(SceneRandomizer):
    """Extra shapes behind the target: how many, which shapes, how big (fraction of the image)."""

    order = 1

    def __init__(
        self,
        count: Sequence[int] = (0, 4),
        shapes: Sequence[str] = SHAPES,
        size: Sequence[float] = (0.1, 0.35),
    ) -> None:
        self.count = tuple(int(c) for c in check_range("count", count, lower=0))
        for shape in shapes:
            if shape not in SHAPES:
                raise LeydenConfigError(f"unknown shape {shape!r}", f"use shapes from {SHAPES}")
        self.shapes = tuple(shapes)
        self.size = check_range("size", size, lower=0.0)

    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        white = np.ones((scene.size, scene.size, 3), np.float32)
        for _ in range(int(rng.integers(self.count[0], self.count[1] + 1))):
            shape = self.shapes[int(rng.integers(len(self.shapes)))]
            centre = tuple(rng.uniform(0, scene.size, 2))
            mask = shape_mask(
                shape, scene.size, centre, uniform(rng, self.size) * scene.size, rng.uniform(0, 2 * np.pi)
            )
            scene.layers.insert(0, Layer(mask, white.copy()))
        return scene


class Colour(SceneRandomizer):
    """A flat random colour per surface: hue uniform, saturation and value (brightness) in ranges.

    ``background`` and ``objects`` are value ranges; overlapping ranges flip the polarity
    (dark ink on light paper and the reverse). ``flip``: probability that a scene swaps the two
    ranges — both polarities, each with a guaranteed contrast when the ranges are apart.
    """

    order = 2

    def __init__(
        self,
        background: Sequence[float] = (0.0, 1.0),
        objects: Sequence[float] = (0.0, 1.0),
        saturation: Sequence[float] = (0.0, 1.0),
        flip: float = 0.0,
    ) -> None:
        self.background = check_range("background", background, lower=0.0)
        self.objects = check_range("objects", objects, lower=0.0)
        self.saturation = check_range("saturation", saturation, lower=0.0)
        if not 0.0 <= flip <= 1.0:
            raise LeydenConfigError(f"flip must be in [0, 1], got {flip}", "e.g. flip=0.5")
        self.flip = flip

    def _colour(self, rng: np.random.Generator, value: Range) -> np.ndarray:
        hue, sat, val = rng.uniform(), uniform(rng, self.saturation), uniform(rng, value)
        return np.array(colorsys.hsv_to_rgb(hue, sat, val), np.float32)

    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        background, objects = self.background, self.objects
        if self.flip > 0 and rng.uniform() < self.flip:  # no draw at flip=0: older renders stay the same
            background, objects = objects, background
        scene.background = np.broadcast_to(self._colour(rng, background), scene.background.shape).copy()
        for layer in scene.layers:
            layer.fill = np.broadcast_to(self._colour(rng, objects), layer.fill.shape).copy()
        return scene


class Texture(SceneRandomizer):
    """Each surface, with ``probability``, blended (by ``strength``) with a random texture.

    Kinds: flat, gradient, checker, value noise, and crops of real bundled photographs (``photos``
    names them; default the whole bank, :data:`~leyden_sim.textures.PHOTOS`).
    """

    order = 3

    def __init__(
        self,
        kinds: Sequence[str] = TEXTURE_KINDS,
        probability: float = 0.8,
        strength: Sequence[float] = (0.3, 1.0),
        background: bool = True,
        objects: bool = True,
        photos: Sequence[str] = PHOTOS,
    ) -> None:
        for kind in kinds:
            if kind not in TEXTURE_KINDS:
                raise LeydenConfigError(f"unknown texture kind {kind!r}", f"use kinds from {TEXTURE_KINDS}")
        if not 0.0 <= probability <= 1.0:
            raise LeydenConfigError(
                f"probability must be in [0, 1], got {probability}", "e.g. probability=0.8"
            )
        self.kinds = tuple(kinds)
        self.probability = probability
        self.strength = check_range("strength", strength, lower=0.0)
        self.background = background
        self.objects = objects
        self.photos = tuple(photos)
        bundled_photos(self.photos)  # unknown names fail here, not in the middle of rendering

    def _texture(self, fill: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.uniform() >= self.probability:
            return fill
        kind = self.kinds[int(rng.integers(len(self.kinds)))]
        texture = make_texture(kind, fill.shape[0], rng, base=fill.reshape(-1, 3).mean(0), photos=self.photos)
        weight = uniform(rng, self.strength)
        return (1 - weight) * fill + weight * texture

    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        if self.background:
            scene.background = self._texture(scene.background, rng)
        if self.objects:
            for layer in scene.layers:
                layer.fill = self._texture(layer.fill, rng)
        return scene


class Camera(SceneRandomizer):
    """Viewpoint: scale, rotation (degrees), translation (fraction of the image), perspective
    (random corner displacement, fraction of the image). Moves every layer and the background."""

    order = 4

    def __init__(
        self,
        scale: Sequence[float] = (0.8, 1.05),
        rotation: Sequence[float] = (-12.0, 12.0),
        translation: Sequence[float] = (-0.08, 0.08),
        perspective: Sequence[float] = (0.0, 0.06),
    ) -> None:
        self.scale = check_range("scale", scale, lower=1e-3)
        self.rotation = check_range("rotation", rotation)
        self.translation = check_range("translation", translation)
        self.perspective = check_range("perspective", perspective, lower=0.0)

    def transform(self, size: int, rng: np.random.Generator) -> ProjectiveTransform:
        centre = (size - 1) / 2
        corners = np.array([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]], np.float64)
        scale, angle = uniform(rng, self.scale), np.deg2rad(uniform(rng, self.rotation))
        shift = np.array([uniform(rng, self.translation), uniform(rng, self.translation)]) * size
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        moved = (corners - centre) @ rot.T * scale + centre + shift
        jitter = uniform(rng, self.perspective) * size
        if jitter:
            moved += rng.uniform(-jitter, jitter, size=moved.shape)
        return ProjectiveTransform.from_estimate(corners, moved)

    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        tform = self.transform(scene.size, rng)
        if np.allclose(tform.params, np.eye(3)):
            return scene
        inverse = tform.inverse
        scene.background = warp(scene.background, inverse, order=1, mode="reflect").astype(np.float32)
        for layer in scene.layers:
            layer.mask = warp(layer.mask, inverse, order=1, mode="constant", cval=0.0).astype(np.float32)
            layer.fill = warp(layer.fill, inverse, order=1, mode="edge").astype(np.float32)
        return scene


class Lighting(ImageRandomizer):
    """Brightness (gain), contrast (around the mean) and a linear shading gradient of random direction."""

    order = 10

    def __init__(
        self,
        brightness: Sequence[float] = (0.6, 1.3),
        contrast: Sequence[float] = (0.5, 1.3),
        shading: Sequence[float] = (0.0, 0.5),
    ) -> None:
        self.brightness = check_range("brightness", brightness, lower=0.0)
        self.contrast = check_range("contrast", contrast, lower=0.0)
        self.shading = check_range("shading", shading, lower=0.0)

    def __call__(self, frame: Frame, rng: np.random.Generator) -> Frame:
        image = frame.image
        contrast, brightness, shading = (
            uniform(rng, r) for r in (self.contrast, self.brightness, self.shading)
        )
        angle = rng.uniform(0, 2 * np.pi)
        if contrast != 1.0:
            mean = image.mean()
            image = (image - mean) * contrast + mean
        if shading != 0.0:
            size = image.shape[0]
            yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1) * 2 - 1
            ramp = np.cos(angle) * xx + np.sin(angle) * yy
            image = image * (1 + shading * ramp / np.sqrt(2))[..., None]
        frame.image = (image * brightness).astype(np.float32)
        return frame


class Blur(ImageRandomizer):
    """Gaussian blur, ``sigma`` in pixels of the rendering resolution."""

    order = 11

    def __init__(self, sigma: Sequence[float] = (0.0, 1.2)) -> None:
        self.sigma = check_range("sigma", sigma, lower=0.0)

    def __call__(self, frame: Frame, rng: np.random.Generator) -> Frame:
        sigma = uniform(rng, self.sigma)
        if sigma > 0:
            frame.image = ndimage.gaussian_filter(frame.image, (sigma, sigma, 0)).astype(np.float32)
        return frame


class Noise(ImageRandomizer):
    """Additive Gaussian sensor noise with standard deviation drawn from ``std``."""

    order = 12

    def __init__(self, std: Sequence[float] = (0.0, 0.08)) -> None:
        self.std = check_range("std", std, lower=0.0)

    def __call__(self, frame: Frame, rng: np.random.Generator) -> Frame:
        std = uniform(rng, self.std)
        if std > 0:
            frame.image = (frame.image + rng.normal(0, std, frame.image.shape)).astype(np.float32)
        return frame


FAMILIES = {
    "stroke": Stroke,
    "distractors": Distractors,
    "colour": Colour,
    "texture": Texture,
    "camera": Camera,
    "lighting": Lighting,
    "blur": Blur,
    "noise": Noise,
}


def full_randomization(exclude: Sequence[str] = (), **overrides: dict) -> list:
    """Every family with its default ranges, minus ``exclude``; ``overrides[family]`` = its kwargs."""
    unknown = [name for name in (*exclude, *overrides) if name not in FAMILIES]
    if unknown:
        raise LeydenConfigError(
            f"unknown randomizer families {unknown}", f"use names from {sorted(FAMILIES)}"
        )
    return [cls(**overrides.get(name, {})) for name, cls in FAMILIES.items() if name not in exclude]
