"""The procedural 2-D renderer: a scene of layers composited into a frame.

A scene is a background and a stack of layers (an alpha mask and a fill each); one layer is
the *target* (the digit or the object to localize). Scene randomizers change the layers
(stroke, distractors, colours, textures, camera); the scene is then composited into a frame, and
image randomizers change the frame (lighting, blur, noise). With no randomizers the target is
white on black: the plain baseline.

Every randomizer draws from its own generator seeded by (dataset seed, item index, randomizer
name), so item ``i`` is the same image every time, and removing one randomizer leaves the
others' draws unchanged (clean ablations).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from leyden_core.errors import LeydenConfigError

Range = tuple[float, float]


def check_range(name: str, value: Sequence[float], lower: float | None = None) -> Range:
    """Validate a (low, high) range given by the user."""
    if len(value) != 2 or value[0] > value[1]:
        raise LeydenConfigError(
            f"{name} must be a (low, high) pair with low <= high, got {value!r}", f"e.g. {name}=(0.0, 1.0)"
        )
    if lower is not None and value[0] < lower:
        raise LeydenConfigError(f"{name} must be >= {lower}, got {value!r}", f"raise the low end to {lower}")
    return float(value[0]), float(value[1])


def uniform(rng: np.random.Generator, value_range: Range) -> float:
    """A uniform draw that is exactly the value when the range is a single point (identity ranges)."""
    low, high = value_range
    return low if low == high else float(rng.uniform(low, high))


@dataclass
class Layer:
    mask: np.ndarray  # (S, S) alpha in [0, 1]
    fill: np.ndarray  # (S, S, 3) colour
    is_target: bool = False


@dataclass
class Scene:
    size: int
    background: np.ndarray  # (S, S, 3)
    layers: list[Layer] = field(default_factory=list)

    @classmethod
    def plain(cls, target_mask: np.ndarray) -> Scene:
        """White target on black: the scene before any randomization."""
        size = target_mask.shape[0]
        white = np.ones((size, size, 3), np.float32)
        return cls(size, np.zeros((size, size, 3), np.float32), [Layer(target_mask, white, is_target=True)])

    @property
    def target(self) -> Layer:
        return next(layer for layer in self.layers if layer.is_target)

    def composite(self) -> Frame:
        image = self.background.copy()
        for layer in self.layers:
            alpha = layer.mask[..., None]
            image = (1 - alpha) * image + alpha * layer.fill
        return Frame(image.astype(np.float32), self.target.mask.astype(np.float32))


@dataclass
class Frame:
    image: np.ndarray  # (S, S, 3) in [0, 1]
    target_mask: np.ndarray  # (S, S), after the camera moved it: the position label

    def target_position(self) -> np.ndarray:
        """Centroid of the visible target as (x, y) in [0, 1] image coordinates."""
        total = self.target_mask.sum()
        if total <= 1e-6:
            return np.full(2, 0.5, np.float32)
        ys, xs = np.mgrid[0 : self.target_mask.shape[0], 0 : self.target_mask.shape[1]]
        scale = max(self.target_mask.shape[0] - 1, 1)
        x = (xs * self.target_mask).sum() / total / scale
        y = (ys * self.target_mask).sum() / total / scale
        return np.array([x, y], np.float32)


class Randomizer:
    """A small composable randomization with ranges. ``order`` fixes its place in the pipeline."""

    order: int = 0

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def generator(self, seed: int, index: int) -> np.random.Generator:
        return np.random.default_rng([seed, index, zlib.crc32(self.name.encode())])

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class SceneRandomizer(Randomizer):
    def __call__(self, scene: Scene, rng: np.random.Generator) -> Scene:
        raise NotImplementedError


class ImageRandomizer(Randomizer):
    def __call__(self, frame: Frame, rng: np.random.Generator) -> Frame:
        raise NotImplementedError


class Renderer:
    """Applies randomizers in pipeline order to a target mask; item ``index`` is deterministic."""

    def __init__(self, randomizers: Sequence[Randomizer] = (), seed: int = 0) -> None:
        for r in randomizers:
            if not isinstance(r, Randomizer):
                raise LeydenConfigError(f"{r!r} is not a Randomizer", "pass leyden_sim.randomizers objects")
        names = [r.name for r in randomizers]
        if len(set(names)) != len(names):
            raise LeydenConfigError(f"randomizers repeat a family: {names}", "give each family once")
        self.randomizers = sorted(randomizers, key=lambda r: r.order)
        self.seed = seed

    def render(self, target_mask: np.ndarray, index: int) -> Frame:
        scene = Scene.plain(target_mask)
        frame: Frame | None = None
        for r in self.randomizers:
            rng = r.generator(self.seed, index)
            if isinstance(r, SceneRandomizer):
                if frame is not None:
                    raise LeydenConfigError(f"{r.name} runs after the image stage", "fix its order")
                scene = r(scene, rng)
            else:
                frame = scene.composite() if frame is None else frame
                frame = r(frame, rng)
        frame = scene.composite() if frame is None else frame
        frame.image = np.clip(frame.image, 0.0, 1.0)
        return frame
