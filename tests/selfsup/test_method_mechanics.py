"""What each of BYOL, DINO, MAE, FixMatch, RotNet and Jigsaw does beyond its loss: schedules, multi-crop,
masking, pretext heads, the exported encoder, joint labeled/unlabeled batches, and the errors for
configurations that cannot work."""

from __future__ import annotations

import pytest
import timm
import torch

from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_core.export import extract_trunk
from leyden_core.testing import quiet_trainer
from leyden_selfsup.dino import DINO
from leyden_selfsup.fixmatch import FixMatch
from leyden_selfsup.mae import MAE
from leyden_selfsup.optim import cosine_momentum
from leyden_selfsup.rotnet import RotNet
from leyden_selfsup.semisup_data import LabeledUnlabeledDataModule
from tests.core.cli_runner import leyden

TINY_VIT = {"image_size": 16, "patch_size": 4, "backbone_kwargs": {"depth": 2}, "decoder_depth": 1}


def test_cosine_momentum_rises_from_base_to_one() -> None:
    assert cosine_momentum(0.99, 0, 100) == pytest.approx(0.99)
    assert cosine_momentum(0.99, 50, 100) == pytest.approx(0.995)
    assert cosine_momentum(0.99, 100, 100) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 200, 100) == pytest.approx(1.0)


def test_dino_teacher_temperature_warms_up_linearly_then_stays(monkeypatch) -> None:
    model = DINO(backbone="leyden_tiny_cnn", image_size=16, out_dim=32, teacher_temperature_warmup_epochs=4)
    temperatures = []
    for epoch in range(6):
        monkeypatch.setattr(DINO, "current_epoch", property(lambda self, e=epoch: e))
        temperatures.append(model.teacher_temperature())
    assert temperatures == pytest.approx([0.04, 0.0475, 0.055, 0.0625, 0.07, 0.07])


def test_dino_student_sees_global_and_local_crops_and_teacher_only_global(monkeypatch) -> None:
    model = DINO(backbone="leyden_tiny_cnn", image_size=16, out_dim=32, local_crops=3, local_size=8)
    sizes = []
    monkeypatch.setattr(model, "log_views", lambda *views: None)
    monkeypatch.setattr(model, "log_dict", lambda *a, **k: None)
    model.net.trunk.register_forward_hook(lambda m, inputs, out: sizes.append(tuple(inputs[0].shape)))
    model.teacher.trunk.register_forward_hook(
        lambda m, inputs, out: sizes.append(("teacher", *inputs[0].shape))
    )
    loss = model.pretext_step(torch.rand(5, 3, 16, 16))
    assert torch.isfinite(loss)
    assert sizes == [(10, 3, 16, 16), (15, 3, 8, 8), ("teacher", 10, 3, 16, 16)]
    assert not torch.equal(model.center, torch.zeros_like(model.center))  # the center moved


def test_dino_local_crops_cannot_enter_a_fixed_size_vit() -> None:
    with pytest.raises(LeydenConfigError, match="local crops"):
        DINO(
            backbone="vit_tiny_patch16_224",
            small_images=False,
            image_size=16,
            backbone_kwargs={"img_size": 16, "patch_size": 4, "depth": 1},
            local_crops=2,
            local_size=8,
        )


def test_mae_encoder_sees_a_random_quarter_of_each_images_patches() -> None:
    model = MAE(**TINY_VIT)
    visible, mask, restore = model.encode_visible(torch.rand(6, 3, 16, 16))
    assert visible.shape == (6, 4, model.net.trunk.embed_dim)  # 16 patches, 4 visible
    assert mask.shape == (6, 16) and (mask.sum(dim=1) == 12).all()
    assert len({tuple(m.tolist()) for m in mask}) > 1  # a fresh choice per sample
    grid = model.reconstruction_grid(torch.rand(4, 3, 16, 16))
    assert grid.shape == (12, 3, 16, 16)


def test_mae_reconstruction_keeps_visible_patches_and_grays_out_hidden_ones() -> None:
    model = MAE(**TINY_VIT).eval()
    images = torch.rand(2, 3, 16, 16)
    masked, filled, original = model.reconstruction_grid(images).chunk(3)
    assert torch.equal(original, images)
    hidden = masked == 0.5
    assert hidden.float().mean() == pytest.approx(0.75, abs=0.05)
    torch.testing.assert_close(filled[~hidden], images[~hidden])


def test_mae_trunk_exports_to_plain_timm(tmp_path) -> None:
    model = MAE(**TINY_VIT)
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    trunk, _ = extract_trunk(tmp_path / "unused.ckpt", checkpoint=checkpoint)
    vit = timm.create_model(
        "vit_tiny_patch16_224", num_classes=0, img_size=16, patch_size=4, global_pool="avg", depth=2
    )
    vit.load_state_dict(trunk)
    images = torch.rand(2, 3, 16, 16)
    torch.testing.assert_close(vit.eval()(images), model.eval().net.features(images))


def test_mae_refuses_patches_that_do_not_tile_the_image_and_non_vit_backbones() -> None:
    with pytest.raises(LeydenConfigError, match="patch_size"):
        MAE(image_size=16, patch_size=5)
    with pytest.raises(LeydenConfigError, match="VisionTransformer"):
        MAE(backbone="leyden_tiny_cnn", image_size=16)


def test_joint_batches_hold_b_labeled_and_mu_b_unlabeled_images() -> None:
    digits = DigitsDataModule(image_size=16, labeled_fraction=0.1)
    data = LabeledUnlabeledDataModule(digits, batch_size=8, unlabeled_ratio=3)
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))[0]
    (labeled, labels), (unlabeled, _) = batch["labeled"], batch["unlabeled"]
    assert labeled.shape == (8, 3, 16, 16) and (labels >= 0).all()
    assert unlabeled.shape == (24, 3, 16, 16)
    assert len(data.unlabeled) == len(digits.labeled) + len(digits.unlabeled)
    by_name = LabeledUnlabeledDataModule("DigitsDataModule", {"image_size": 16, "labeled_fraction": 0.1})
    by_name.setup("fit")
    assert len(by_name.labeled) == len(digits.labeled) and by_name.image_size == 16


def test_joint_batches_refuse_unknown_datamodules_and_too_few_labels() -> None:
    with pytest.raises(LeydenConfigError, match="unknown datamodule"):
        LabeledUnlabeledDataModule("DigitDataModule")
    data = LabeledUnlabeledDataModule(DigitsDataModule(image_size=16, labels_per_class=1), batch_size=64)
    data.setup("fit")
    with pytest.raises(LeydenConfigError, match="no training batch"):
        data.train_dataloader()


def test_fixmatch_refuses_data_without_unlabeled_batches(tmp_path) -> None:
    model = FixMatch(backbone="leyden_tiny_cnn", image_size=16)
    trainer = quiet_trainer(max_epochs=1, limit_train_batches=1, default_root_dir=tmp_path)
    with pytest.raises(LeydenConfigError, match="labeled and unlabeled batches"):
        trainer.fit(model, DigitsDataModule(image_size=16, labeled_fraction=0.1, train_on="all"))


def test_fixmatch_strong_view_differs_from_the_weak_view_and_stays_in_range() -> None:
    model = FixMatch(backbone="leyden_tiny_cnn", image_size=16, weak_augment={"crop_scale": (1.0, 1.0)})
    images = torch.rand(8, 3, 16, 16)
    strong = model.strong(images)
    assert strong.shape == images.shape and 0.0 <= strong.min() and strong.max() <= 1.0
    assert not torch.allclose(strong, model.weak(images))
    assert not any(p.requires_grad for p in model.strong.parameters())


def test_dino_last_layer_learns_only_after_the_frozen_epochs(monkeypatch) -> None:
    model = DINO(backbone="leyden_tiny_cnn", image_size=16, out_dim=32, local_crops=0)
    last = model.net.heads["dino"].last_layer
    for epoch, frozen in ((0, True), (1, False)):
        monkeypatch.setattr(DINO, "current_epoch", property(lambda self, e=epoch: e))
        model.zero_grad()
        model.net(torch.rand(4, 3, 16, 16), "dino").sum().backward()
        model.on_after_backward()
        grads = [p.grad for p in last.parameters() if p.requires_grad]
        assert grads and all((g is None) == frozen for g in grads)
        assert model.net.trunk.features[0].weight.grad is not None  # the rest learns throughout


def test_a_nested_datamodule_config_is_refused_with_the_form_that_works(tmp_path) -> None:
    config = tmp_path / "nested.yaml"
    config.write_text(
        "model: {class_path: FixMatch, init_args: {backbone: leyden_tiny_cnn, image_size: 16}}\n"
        "data:\n  class_path: LabeledUnlabeledDataModule\n  init_args:\n"
        "    datamodule: {class_path: DigitsDataModule, init_args: {image_size: 16, labeled_fraction: 0.05}}\n"
    )
    result = leyden("fit", "--config", str(config), "--trainer.fast_dev_run=true", cwd=tmp_path)
    assert result.returncode == 2
    assert "datamodule_args" in result.stderr


def test_rotnet_head_has_a_hidden_layer_between_the_trunk_and_the_four_rotations() -> None:
    model = RotNet(backbone="leyden_tiny_cnn", image_size=16, hidden_dim=48)
    linears = [m for m in model.net.heads["rotation"].modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(model.net.feature_dim, 48), (48, 4)]
    linear = RotNet(backbone="leyden_tiny_cnn", image_size=16, hidden_dim=0).net.heads["rotation"]
    assert isinstance(linear, torch.nn.Linear) and linear.out_features == 4
    with pytest.raises(LeydenConfigError, match="hidden_dim"):
        RotNet(backbone="leyden_tiny_cnn", image_size=16, hidden_dim=-1)


def test_rotnet_labels_each_image_in_its_four_rotations(monkeypatch) -> None:
    model = RotNet(
        backbone="leyden_tiny_cnn", image_size=16, augment={"crop_scale": (1.0, 1.0), "flip_p": 0.0}
    )
    seen = {}
    monkeypatch.setattr(model, "log_views", lambda *views: None)
    monkeypatch.setattr(
        "leyden_selfsup.rotnet.pretext_cross_entropy",
        lambda logits, targets: seen.update(logits=logits, targets=targets) or logits.sum(),
    )
    model.net.trunk.register_forward_hook(lambda m, inputs, out: seen.update(rotated=inputs[0]))
    images = torch.rand(3, 3, 16, 16)
    model.pretext_step(images)
    assert seen["targets"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    quarter_turns = seen["rotated"].view(4, 3, 3, 16, 16)
    for r in range(4):
        torch.testing.assert_close(quarter_turns[r], torch.rot90(quarter_turns[0], r, dims=(2, 3)))
