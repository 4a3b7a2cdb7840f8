"""Random views of a whole batch, made on the training device (kornia) after the batch is moved.

Data loaders then only decode; the per-sample randomness (crop box, jitter factors, ...) is drawn
on the device for every image independently. The defaults are SimCLR's ImageNet/CIFAR recipe;
tiny inputs such as the 8×8 digits want a milder crop and no flip (see examples/selfsup).
"""

from __future__ import annotations

import difflib
import inspect
from typing import Any

import kornia.augmentation as K
import torch
from torch import nn

from leyden_core.checks import check_fraction, check_non_negative
from leyden_core.errors import LeydenConfigError


class ViewAugment(nn.Module):
    """SimCLR-style view generator: crop → flip → affine → colour jitter → grayscale → blur → solarize → erase.

    Args:
        image_size: output side (views are resized crops of this size).
        channels: 1 or 3; colour operations (saturation, hue, grayscale) apply to 3 channels only.
        crop_scale: range of the crop's area as a share of the image.
        flip_p: probability of a horizontal flip.
        jitter: strength s of colour jitter (brightness, contrast, saturation 0.8 s; hue 0.2 s).
        jitter_p, grayscale_p, blur_p, solarize_p: probability of each operation.
        affine_degrees: rotation range ±degrees, with shear ±degrees / 2, translation ±10% and
            scale 0.9–1.1, applied to every sample (0 = off); the geometric half of a
            RandAugment-like strong augmentation (e.g. Noisy Student's noise).
        erase_p: probability of erasing one random rectangle (2–25% of the area; Cutout).
    """

    def __init__(
        self,
        image_size: int,
        channels: int = 3,
        crop_scale: tuple[float, float] = (0.08, 1.0),
        flip_p: float = 0.5,
        jitter: float = 0.5,
        jitter_p: float = 0.8,
        grayscale_p: float = 0.2,
        blur_p: float = 0.0,
        solarize_p: float = 0.0,
        affine_degrees: float = 0.0,
        erase_p: float = 0.0,
    ) -> None:
        super().__init__()
        if channels not in (1, 3):
            raise LeydenConfigError(
                f"augmentation needs 1 or 3 channels, got {channels}", "set channels: 1 or 3"
            )
        probabilities = {"flip_p": flip_p, "jitter_p": jitter_p, "grayscale_p": grayscale_p, "blur_p": blur_p}
        probabilities.update(solarize_p=solarize_p, erase_p=erase_p)
        for name, value in probabilities.items():
            check_fraction(name, value, 0.5)
        check_non_negative("jitter", jitter, 0.5)
        check_non_negative("affine_degrees", affine_degrees, 15.0)
        if len(crop_scale) != 2 or not 0.0 < crop_scale[0] <= crop_scale[1] <= 1.0:
            raise LeydenConfigError(
                f"crop_scale must satisfy 0 < lo <= hi <= 1, got {crop_scale}", "e.g. [0.2, 1.0]"
            )
        self.image_size = image_size
        colour = 0.8 * jitter if channels == 3 else 0.0
        ops: list[nn.Module] = [
            K.RandomResizedCrop((image_size, image_size), scale=tuple(crop_scale)),
            K.RandomHorizontalFlip(p=flip_p),
            K.RandomAffine(
                affine_degrees,
                translate=(0.1, 0.1),
                scale=(0.9, 1.1),
                shear=affine_degrees / 2,
                p=1.0 if affine_degrees > 0 else 0.0,
            ),
            K.ColorJitter(
                0.8 * jitter, 0.8 * jitter, colour, 0.2 * jitter if channels == 3 else 0.0, p=jitter_p
            ),
        ]
        if channels == 3:
            ops.append(K.RandomGrayscale(p=grayscale_p))
        kernel = max(3, (image_size // 10) | 1)
        ops += [
            K.RandomGaussianBlur((kernel, kernel), sigma=(0.1, 2.0), p=blur_p),
            K.RandomSolarize(thresholds=0.1, additions=0.0, p=solarize_p),
            K.RandomErasing(scale=(0.02, 0.25), p=erase_p),
        ]
        self.ops = nn.Sequential(*(op for op in ops if getattr(op, "p", 1.0) > 0))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) in [0, 1] → (N, C, image_size, image_size), a fresh random view per sample."""
        if images.ndim != 4:
            raise LeydenConfigError(
                f"expected a batch (N, C, H, W), got shape {tuple(images.shape)}", "batch images"
            )
        with torch.no_grad():
            return self.ops(images).clamp_(0.0, 1.0)


def check_augment_options(options: dict[str, Any] | None) -> dict[str, Any]:
    """``options`` (a method's ``augment:`` overrides) if every key is a :class:`ViewAugment` argument,
    else a ``LeydenConfigError`` naming the closest valid key."""
    options = dict(options or {})
    valid = [
        p
        for p in inspect.signature(ViewAugment.__init__).parameters
        if p not in ("self", "image_size", "channels")
    ]
    for key in options:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise LeydenConfigError(
                f"unknown augment option {key!r}", f"{hint}(augment options: {', '.join(valid)})"
            )
    return options
