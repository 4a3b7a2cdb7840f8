"""Backbones: any timm model by name, classifier removed, feature width measured.

The returned module *is* the timm model (not a wrapper), so its ``state_dict`` keys are timm's and
an exported trunk loads into ``timm.create_model(name)``. ``small_images=True`` adapts the stem to
8–64 px inputs: ResNets get a 3×3 stride-1 convolution and no max-pool (the usual CIFAR-style
stem); EfficientNet, MobileNetV3, ConvNeXt and RegNet keep their stem weights with stride 1.
Re-create that model for loading with ``create_backbone(name, small_images=True)``. ViTs take one
image size, fixed when they are made: pass ``img_size`` (and a small ``patch_size``) instead.

The families tested at small sizes (``tests/core/test_backbones_and_heads.py``): ResNet,
ConvNeXt, EfficientNet, MobileNetV3, RegNet and ViT. What a trunk outputs is measured by one dry
forward when it is made (``model.feature_dim``): timm's ``num_features`` is not always the width
of the pooled output (MobileNetV3's head convolution widens it).
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


def _vit_fix(image_size: int | None) -> str:
    size = image_size or 32
    patch = 4 if size <= 64 else 16
    return (
        f"a ViT takes one image size, set when it is made: small_images: false and "
        f"backbone_kwargs: {{img_size: {size}, patch_size: {patch}}}"
    )


def adapt_to_small_images(model: nn.Module) -> nn.Module:
    """Give ``model`` a stride-1 stem (and no stem max-pool) for 8–64 px inputs, in place."""
    if isinstance(model, TinyCNN):
        return model
    if isinstance(getattr(model, "conv1", None), nn.Conv2d) and hasattr(model, "maxpool"):  # ResNet
        old = model.conv1
        model.conv1 = nn.Conv2d(old.in_channels, old.out_channels, 3, 1, 1, bias=old.bias is not None)
        model.maxpool = nn.Identity()
        return model
    if isinstance(getattr(model, "conv_stem", None), nn.Conv2d):  # EfficientNet, MobileNet
        model.conv_stem.stride = (1, 1)
        return model
    stem = getattr(model, "stem", None)  # ConvNeXt (patchify 4×4/4), RegNet (3×3/2)
    stem_conv = next((m for m in stem.modules() if isinstance(m, nn.Conv2d)), None) if stem else None
    if stem_conv is not None:
        stem_conv.stride = (1, 1)
        return model
    if hasattr(model, "patch_embed"):
        raise LeydenConfigError(f"small_images does not apply to {type(model).__name__}", _vit_fix(None))
    raise LeydenConfigError(
        f"small_images is not supported for {type(model).__name__}",
        "use a ResNet, EfficientNet, MobileNetV3, ConvNeXt or RegNet backbone, or small_images: false",
    )


def fixed_input_size(model: nn.Module) -> int | None:
    """The one image side ``model`` accepts (a ViT's ``img_size``), or None if it takes any."""
    patch_embed = getattr(model, "patch_embed", None)
    if patch_embed is None or getattr(model, "dynamic_img_size", False):
        return None
    if not getattr(patch_embed, "strict_img_size", True) or getattr(patch_embed, "img_size", None) is None:
        return None
    return int(patch_embed.img_size[0])


def dry_forward(model: nn.Module, in_chans: int, image_size: int) -> torch.Tensor:
    """The output for one zero image, in eval mode without gradients (no BatchNorm statistic, no RNG
    draw changes), on the model's device; the model's train/eval mode is restored."""
    was_training = model.training
    parameter = next(model.parameters(), None)
    device = parameter.device if parameter is not None else "cpu"
    model.eval()
    try:
        with torch.no_grad():
            return model(torch.zeros(1, in_chans, image_size, image_size, device=device))
    finally:
        model.train(was_training)


def check_input(model: nn.Module, name: str, in_chans: int, image_size: int) -> int:
    """The feature width ``model`` gives for ``in_chans``×``image_size``² images, or a
    ``LeydenConfigError`` saying why it cannot take them and what to change."""
    fixed = fixed_input_size(model)
    if fixed is not None and fixed != image_size:
        raise LeydenConfigError(
            f"backbone {name!r} takes {fixed}×{fixed} images, the data are {image_size}×{image_size}",
            _vit_fix(image_size),
        )
    try:
        out = dry_forward(model, in_chans, image_size)
    except (RuntimeError, ValueError, AssertionError) as err:
        cause = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise LeydenConfigError(
            f"backbone {name!r} cannot take {in_chans}×{image_size}×{image_size} images: {cause}",
            _vit_fix(image_size)
            if hasattr(model, "patch_embed")
            else "use small_images: true, a larger image_size, or a backbone made for small images "
            "(resnet18, leyden_tiny_cnn)",
        ) from err
    if out.ndim != 2:
        raise LeydenConfigError(
            f"backbone {name!r} outputs shape {tuple(out.shape)}, not (batch, features)",
            "use a timm classification model (one with a pooled feature vector)",
        )
    return int(out.shape[1])


def measure_feature_dim(model: nn.Module, in_chans: int = 3) -> int:
    """Width of ``model``'s output, from a dry forward at a size it accepts (its fixed size, else 32 px,
    else its pretrained config's size)."""
    name = getattr(model, "default_cfg", {}).get("architecture", type(model).__name__)
    fixed = fixed_input_size(model)
    sizes = [fixed] if fixed else [32]
    cfg_size = getattr(model, "pretrained_cfg", {}).get("input_size")
    if not fixed and cfg_size and cfg_size[-1] not in sizes:
        sizes.append(int(cfg_size[-1]))
    for size in sizes[:-1]:
        try:
            return check_input(model, name, in_chans, size)
        except LeydenConfigError:
            continue
    return check_input(model, name, in_chans, sizes[-1])


def feature_dim(trunk: nn.Module) -> int:
    """A trunk's output width: measured by :func:`create_backbone`, else measured now for an image
    trunk (one with a convolution); a trunk of other inputs is taken at its ``num_features``."""
    measured = getattr(trunk, "feature_dim", None)
    if measured is None:
        first_conv = next((m for m in trunk.modules() if isinstance(m, nn.Conv2d)), None)
        if first_conv is None:
            return int(trunk.num_features)
        measured = measure_feature_dim(trunk, first_conv.in_channels)
    return int(measured)


def create_backbone(
    name: str,
    small_images: bool = False,
    in_chans: int = 3,
    pretrained: bool = False,
    image_size: int | None = None,
    **timm_kwargs: object,
) -> nn.Module:
    """Create timm model ``name`` without its classifier; ``model.feature_dim`` is its output width.

    The width is measured by one dry forward (at ``image_size`` when given, so a backbone that cannot
    take such images is refused here with the fix, not at the first batch). Extra keyword arguments
    go to ``timm.create_model`` (``drop_rate``, ``drop_path_rate``, ``img_size``, ...).
    """
    _check_name(name)
    if in_chans < 1:
        raise LeydenConfigError(
            f"in_chans must be at least 1, got {in_chans}", "set in_chans: 3 (or 1 for grey)"
        )
    try:
        model = timm.create_model(
            name, pretrained=pretrained, num_classes=0, in_chans=in_chans, **timm_kwargs
        )
    except TypeError as err:
        raise LeydenConfigError(
            f"backbone {name!r} rejects its arguments: {err}",
            "remove that key from backbone_kwargs (the timm model's signature lists what it takes)",
        ) from err
    if small_images:
        adapt_to_small_images(model)
    if image_size is None:
        model.feature_dim = measure_feature_dim(model, in_chans)
    else:
        model.feature_dim = check_input(model, name, in_chans, image_size)
    return model


def check_data_fits(
    trunk: nn.Module, name: str, in_chans: int, num_classes: int | None, datamodule: object
) -> None:
    """Refuse, before training, data the model cannot take: what ``datamodule`` declares (``channels``,
    ``image_size``, ``num_classes``; whatever it does not declare is not checked) against the model."""
    channels = getattr(datamodule, "channels", None)
    if channels is not None and channels != in_chans:
        raise LeydenConfigError(
            f"the data have {channels}-channel images but the model was built for in_chans={in_chans}",
            f"set the model's in_chans: {channels} (or the data's channels: {in_chans})",
        )
    data_classes = getattr(datamodule, "num_classes", None)
    if num_classes is not None and data_classes is not None and data_classes > num_classes:
        raise LeydenConfigError(
            f"the data have {data_classes} classes but the model's num_classes is {num_classes}",
            f"set the model's num_classes: {data_classes}",
        )
    image_size = getattr(datamodule, "image_size", None)
    if image_size:
        check_input(trunk, name, in_chans, int(image_size))
