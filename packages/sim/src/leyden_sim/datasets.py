"""Randomized image datasets: map-style (a length; item i fixed) and endless (iterable).

Images are rendered at ``render_size`` and then pass through a simulated *sensor*: optional
grey conversion, optional binarization (ink where the grey value exceeds ``binarize``),
area-averaging down to ``sensor_size`` pixels (exact block means when ``sensor_size`` divides
``render_size``), quantization to ``levels`` grey levels and a bilinear resize to ``image_size``.
For scikit-learn's digits that is exactly how the real images were made (binary 32×32 scanner
bitmaps → counts of ink pixels in 4×4 blocks, 0–16 → 8×8) and then loaded (bilinear
upsampling), so the sensor is part of rendering realism, not a trick of the model.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from skimage.transform import resize
from torch.utils.data import Dataset, IterableDataset, TensorDataset, get_worker_info

from leyden_core import distributed
from leyden_core.errors import LeydenConfigError
from leyden_sim.content import FONTS, PEN_FRACTION, DigitContent, ShapeContent
from leyden_sim.randomizers import SHAPES, Distractors, Texture
from leyden_sim.scene import Randomizer, Renderer

_CONTENT_STREAM = zlib.crc32(b"content")


class RandomizedImageDataset(Dataset):
    """``length`` rendered items; item ``i`` depends only on (``seed``, ``i``).

    Returns ``(image, label)``, or ``(image, position, label)`` with ``with_position=True`` where
    position is the target's centroid (x, y) in [0, 1] after the camera moved it.
    """

    def __init__(
        self,
        content: DigitContent | ShapeContent,
        randomizers: Sequence[Randomizer] = (),
        length: int = 10_000,
        seed: int = 0,
        render_size: int = 32,
        image_size: int = 32,
        channels: int = 3,
        sensor_size: int | None = None,
        levels: int | None = None,
        binarize: float | None = None,
        with_position: bool = False,
    ) -> None:
        if channels not in (1, 3):
            raise LeydenConfigError(f"channels must be 1 or 3, got {channels}", "set channels: 1 or 3")
        if length < 1:
            raise LeydenConfigError(f"length must be positive, got {length}", "e.g. length: 10000")
        if sensor_size is not None and not 1 <= sensor_size <= render_size:
            raise LeydenConfigError(
                f"sensor_size {sensor_size} must be in [1, render_size={render_size}]", "lower sensor_size"
            )
        self.content = content
        self.renderer = Renderer(randomizers, seed)
        self.length, self.seed = length, seed
        self.render_size, self.image_size, self.channels = render_size, image_size, channels
        self.sensor_size, self.levels, self.binarize = sensor_size, levels, binarize
        self.with_position = with_position

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        return self.item(index)

    def item(self, index: int) -> tuple:
        """Render item ``index`` (any non-negative integer: the endless dataset uses this)."""
        rng = np.random.default_rng([self.seed, index, _CONTENT_STREAM])
        mask, label = self.content(index, self.render_size, rng)
        frame = self.renderer.render(mask, index)
        image = self.sense(frame.image)
        if self.with_position:
            return image, torch.from_numpy(frame.target_position()), label
        return image, label

    def sense(self, image: np.ndarray) -> torch.Tensor:
        """The simulated sensor: grey, binarize, area-downsample, quantize, bilinear resize → (C, H, W)."""
        if self.channels == 1:
            image = image @ np.array([0.299, 0.587, 0.114], np.float32)
            image = image[..., None]
        if self.binarize is not None:
            image = (image > self.binarize).astype(np.float32)
        size, sensor = image.shape[0], self.sensor_size
        if sensor is not None and size % sensor == 0:  # block means: each sensor cell counts its pixels
            block = size // sensor
            image = image.reshape(sensor, block, sensor, block, -1).mean((1, 3))
        elif sensor is not None:
            image = resize(image, (sensor, sensor), order=1, anti_aliasing=True)
        if self.levels is not None:
            image = np.round(np.clip(image, 0, 1) * self.levels) / self.levels
        tensor = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)).permute(2, 0, 1)
        if tensor.shape[-1] != self.image_size:
            tensor = F.interpolate(
                tensor[None],
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=tensor.shape[-1] > self.image_size,
            )[0]
        return tensor.clamp_(0.0, 1.0)

    def materialize(self) -> TensorDataset:
        """Render every item once into tensors (fast epochs; same images as indexing)."""
        items = [self.item(i) for i in range(self.length)]
        columns = list(zip(*items))
        tensors = [torch.stack(c) if isinstance(c[0], torch.Tensor) else torch.tensor(c) for c in columns]
        return TensorDataset(*tensors)


class EndlessRandomizedDataset(IterableDataset):
    """An endless stream of fresh items from ``base``, split across DDP ranks and loader workers.

    Worker ``w`` of ``W`` on rank ``r`` of ``R`` yields items ``start + k·R·W + r·W + w``: no two
    workers ever render the same item, and the stream is reproducible for a fixed (R, W).
    """

    def __init__(self, base: RandomizedImageDataset, start: int = 0) -> None:
        self.base, self.start = base, start

    def __iter__(self) -> Iterator[tuple]:
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        stride = distributed.world_size() * workers
        index = self.start + distributed.rank() * workers + worker
        while True:
            yield self.base.item(index)
            index += stride


def syn_digits(
    randomizers: Sequence[Randomizer] = (),
    length: int = 10_000,
    seed: int = 0,
    fonts: Sequence[str] = FONTS,
    pen_fraction: float | None = PEN_FRACTION,
    image_size: int = 16,
    channels: int = 1,
    render_size: int = 32,
    sensor_size: int | None = 8,
    levels: int | None = 16,
    binarize: float | None = 0.5,
) -> RandomizedImageDataset:
    """SynDigits: digits 0–9 from offline fonts, rendered like scikit-learn's digits were scanned.

    ``pen_fraction``: share of procedurally handwritten digits (see :class:`DigitContent`)."""
    return RandomizedImageDataset(
        DigitContent(tuple(fonts), pen_fraction=pen_fraction),
        randomizers,
        length,
        seed,
        render_size,
        image_size,
        channels,
        sensor_size,
        levels,
        binarize,
    )


def tobin_localization(
    length: int = 10_000,
    seed: int = 0,
    image_size: int = 64,
    shapes: Sequence[str] = SHAPES,
    randomizers: Sequence[Randomizer] | None = None,
) -> RandomizedImageDataset:
    """Tobin et al.'s task: find a target shape among distractors on a textured table.

    Items are ``(image, position, class)``; ``randomizers=None`` gives textures everywhere and
    1–6 distractors (add Camera/Lighting/Noise for the full recipe).
    """
    if randomizers is None:
        randomizers = [
            Texture(probability=1.0, strength=(1.0, 1.0)),
            Distractors(count=(1, 6), shapes=shapes),
        ]
    return RandomizedImageDataset(
        ShapeContent(tuple(shapes)), randomizers, length, seed, image_size, image_size, 3, with_position=True
    )
