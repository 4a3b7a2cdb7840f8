"""Backbones from timm by name, small-image stems, and the multi-head trunk."""

from __future__ import annotations

import pytest
import timm
import torch
from torch import nn

from leyden_core.backbones import create_backbone
from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_core.models import ImageClassifier
from leyden_core.multihead import MultiHeadNet
from leyden_core.testing import quiet_trainer


@pytest.mark.parametrize(
    ("name", "size", "small"),
    [
        ("resnet18", 32, True),
        ("resnet18", 64, False),
        ("efficientnet_b0", 16, True),
        ("leyden_tiny_cnn", 8, True),
    ],
)
def test_backbone_returns_features_of_announced_width(name, size, small):
    model = create_backbone(name, small_images=small).eval()
    with torch.no_grad():
        features = model(torch.randn(2, 3, size, size))
    assert features.shape == (2, model.feature_dim)
    assert torch.isfinite(features).all()


def test_small_image_stem_keeps_resolution():
    small, plain = create_backbone("resnet18", small_images=True).eval(), create_backbone("resnet18").eval()
    assert small.conv1.kernel_size == (3, 3) and small.conv1.stride == (1, 1)
    assert isinstance(small.maxpool, nn.Identity)
    x = torch.randn(1, 3, 32, 32)
    assert small.forward_features(x).shape[-1] == 4 * plain.forward_features(x).shape[-1]


def test_in_chans_and_timm_kwargs_pass_through():
    model = create_backbone("resnet18", in_chans=1, drop_path_rate=0.1)
    assert model.conv1.in_channels == 1
    assert model(torch.randn(2, 1, 32, 32)).shape == (2, 512)


def test_unknown_backbone_names_closest_valid_names():
    with pytest.raises(LeydenConfigError, match="resnet18"):
        create_backbone("resnet_18")


def test_small_images_on_a_vit_names_img_size():
    with pytest.raises(LeydenConfigError, match="small_images does not apply") as error:
        create_backbone("vit_tiny_patch16_224", small_images=True)
    assert "img_size" in error.value.fix


def test_feature_width_is_measured_not_read_from_num_features():
    # timm's MobileNetV3 declares num_features=576, but its head convolution makes the pooled output 1024
    trunk = create_backbone("mobilenetv3_small_100", small_images=True)
    assert trunk.num_features == 576 and trunk.feature_dim == 1024
    net = MultiHeadNet(trunk)
    net.add_linear_head("classifier", 10)
    assert net.feature_dim == 1024
    assert net(torch.randn(2, 3, 32, 32), head="classifier").shape == (2, 10)


def test_a_backbone_that_cannot_take_the_image_size_is_refused_with_the_fix():
    with pytest.raises(LeydenConfigError, match="takes 224×224 images") as error:
        create_backbone("vit_tiny_patch16_224", image_size=32)
    assert "img_size: 32" in error.value.fix


# The families Leyden documents (leyden_core.backbones), smallest variants, at the examples' sizes.
FAMILIES = [
    ("resnet18", {}),
    ("convnext_atto", {}),
    ("efficientnet_b0", {}),
    ("mobilenetv3_small_100", {}),
    ("regnetx_002", {}),
    ("vit_tiny_patch16_224", {"small_images": False, "backbone_kwargs": {"img_size": 32, "patch_size": 4}}),
]


@pytest.mark.parametrize(("backbone", "options"), FAMILIES, ids=[name for name, _ in FAMILIES])
def test_every_documented_family_trains_one_step_on_digits(tmp_path, backbone, options):
    model = ImageClassifier(backbone=backbone, **{"small_images": True, **options})
    data = DigitsDataModule(image_size=32, batch_size=4)
    trainer = quiet_trainer(fast_dev_run=1, default_root_dir=tmp_path)  # one training, one validation batch
    trainer.fit(model, data)
    assert torch.isfinite(trainer.callback_metrics["train/loss"])
    assert 0.0 <= float(trainer.callback_metrics["val/acc"]) <= 1.0


@pytest.mark.parametrize(
    ("backbone", "options", "fix"),
    [
        ("vit_tiny_patch16_224", {"small_images": False}, "img_size: 32"),
        ("vit_tiny_patch16_224", {"small_images": True}, "img_size"),
        ("resnet18", {"in_chans": 1}, "in_chans: 3"),
    ],
    ids=["vit-default-size", "vit-small-images", "channels"],
)
def test_what_cannot_train_on_the_data_is_refused_before_training(tmp_path, backbone, options, fix):
    data = DigitsDataModule(image_size=32, batch_size=4)
    with pytest.raises(LeydenConfigError) as error:
        model = ImageClassifier(backbone=backbone, **options)
        quiet_trainer(fast_dev_run=1, default_root_dir=tmp_path).fit(model, data)
    assert fix in error.value.fix


def test_multihead_add_head_freeze_and_trunk_export():
    net = MultiHeadNet(create_backbone("resnet18"), {"proj": nn.Linear(512, 16)})
    net.add_linear_head("classifier", 10)
    with pytest.raises(ValueError, match="exists already"):
        net.add_linear_head("classifier", 3)
    x = torch.randn(2, 3, 32, 32)
    assert net(x, head="proj").shape == (2, 16) and net(x, head="classifier").shape == (2, 10)

    net.freeze_trunk()
    net.train()
    assert not any(p.requires_grad for p in net.trunk.parameters())
    assert not net.trunk.training and net.heads.training
    running_mean = net.trunk.bn1.running_mean.clone()
    net(x, head="classifier").sum().backward()
    assert torch.equal(running_mean, net.trunk.bn1.running_mean)  # frozen BN statistics
    assert net.heads["classifier"].weight.grad is not None

    plain = timm.create_model("resnet18", pretrained=False)
    missing, unexpected = plain.load_state_dict(net.trunk_state_dict(), strict=False)
    assert unexpected == [] and set(missing) == {"fc.weight", "fc.bias"}
