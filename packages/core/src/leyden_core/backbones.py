"""Backbones: any timm model by name, classifier removed, feature dimension exposed.

The returned module *is* the timm model (not a wrapper), so its ``state_dict`` keys are timm's and
an exported trunk loads into ``timm.create_model(name)``. ``small_images=True`` swaps the stem for
a 3×3 stride-1 convolution and drops the max-pool, the usual CIFAR-style adaptation for 8–64 px
inputs; re-create that model for loading with ``create_backbone(name, small_images=True)``.
"""

from __future__ import annotations

import difflib

import timm
import torch
from timm.models import register_model
from torch import nn

from leyden_core.errors import LeydenConfigError


class TinyCNN(nn.Module):
    """A four-layer CNN for tests and CPU demos: fast, and any input size from 8 px up."""

    def __init__(self, in_chans: int = 3, width: int = 32, num_classes: int = 0, **_: object) -> None:
        super().__init__()
        self.num_features = 2 * width
        self.features = nn.Sequential(
            nn.Conv2d(in_chans, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def reset_classifier(self, num_classes: int) -> None:
        self.head = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()


@register_model
def leyden_tiny_cnn(pretrained: bool = False, **kwargs: object) -> TinyCNN:
    """timm registry entry, so ``timm.create_model("leyden_tiny_cnn")`` works once Leyden is imported."""
    if pretrained:
        raise LeydenConfigError("leyden_tiny_cnn has no pretrained weights", "use pretrained=False")
    return TinyCNN(**kwargs)


def _check_name(name: str) -> None:
    if name in timm.list_models():
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=3, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "see timm.list_models() for valid names"
    raise LeydenConfigError(f"unknown backbone {name!r}", hint)


def adapt_to_small_images(model: nn.Module) -> nn.Module:
    """Replace a strided stem by a 3×3 stride-1 one and drop the stem max-pool, in place."""
    if isinstance(getattr(model, "conv1", None), nn.Conv2d) and hasattr(model, "maxpool"):
        old = model.conv1
        model.conv1 = nn.Conv2d(old.in_channels, old.out_channels, 3, 1, 1, bias=old.bias is not None)
        model.maxpool = nn.Identity()
        return model
    if isinstance(getattr(model, "conv_stem", None), nn.Conv2d):
        model.conv_stem.stride = (1, 1)
        return model
    if isinstance(model, TinyCNN):
        return model
    raise LeydenConfigError(
        f"small_images is not supported for {type(model).__name__}",
        "use a ResNet-family (conv1 + maxpool) or EfficientNet/MobileNet-family (conv_stem) "
        "backbone, or small_images=False",
    )


def create_backbone(
    name: str,
    small_images: bool = False,
    in_chans: int = 3,
    pretrained: bool = False,
    **timm_kwargs: object,
) -> nn.Module:
    """Create timm model ``name`` without its classifier; ``model.num_features`` is its width.

    Extra keyword arguments go to ``timm.create_model`` (``drop_rate``, ``drop_path_rate``, ...).
    """
    _check_name(name)
    model = timm.create_model(name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **timm_kwargs)
    if small_images:
        adapt_to_small_images(model)
    return model
