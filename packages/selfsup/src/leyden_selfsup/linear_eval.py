"""Linear evaluation and fine-tuning from a pretraining checkpoint (the papers' evaluation protocol).

    trunk = the pretrained ``net.trunk`` of any Leyden self-supervised checkpoint
    linear evaluation: freeze the trunk (BN statistics too), train a linear classifier on top
    fine-tuning:       train trunk and classifier together (usually with a fraction of the labels)

Use it from the CLI with a labeled datamodule, e.g.
``leyden fit --model LinearEval --model.checkpoint_path runs/simclr/checkpoints/last.ckpt
--data DigitsDataModule --data.labeled_fraction 0.05``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from leyden_core.backbones import create_backbone
from leyden_core.checks import check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_core.multihead import MultiHeadNet
from leyden_selfsup.augment import ViewAugment, check_augment_options

TRUNK_PREFIX = "net.trunk."


def load_pretrained_trunk(checkpoint_path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The trunk of a pretraining checkpoint, rebuilt from its hyperparameters, and those hyperparameters."""
    path = Path(checkpoint_path)
    if not path.is_file():
        raise LeydenConfigError(
            f"checkpoint not found: {path.resolve()}",
            "pretrain first, e.g. leyden fit --config "
            "examples/selfsup/simclr_digits.yaml, then pass its checkpoints/last.ckpt",
        )
    checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    hp = checkpoint.get("hyper_parameters", {})
    if "backbone" not in hp or not any(k.startswith(TRUNK_PREFIX) for k in checkpoint["state_dict"]):
        raise LeydenConfigError(
            f"{path} is not a Leyden pretraining checkpoint (no backbone / {TRUNK_PREFIX}*)",
            "pass a checkpoint written by SimCLR, MoCoV2, MoCoV3, RotNet, Jigsaw or NoisyStudent",
        )
    trunk = create_backbone(
        hp["backbone"],
        small_images=hp.get("small_images", False),
        in_chans=hp.get("in_chans", 3),
        **(hp.get("backbone_kwargs") or {}),
    )
    trunk.load_state_dict(
        {k[len(TRUNK_PREFIX) :]: v for k, v in checkpoint["state_dict"].items() if k.startswith(TRUNK_PREFIX)}
    )
    return trunk, hp


class LinearEval(pl.LightningModule):
    """A linear classifier on a pretrained trunk, frozen (``finetune=False``) or trained with it.

    Args:
        checkpoint_path: a checkpoint of any Leyden pretraining method.
        finetune: also train the trunk.
        num_classes: of the classifier.
        augment: ``ViewAugment`` arguments for light training augmentation, or None for none.
        lr, weight_decay: of AdamW.
    """

    def __init__(
        self,
        checkpoint_path: str,
        finetune: bool = False,
        num_classes: int = 10,
        augment: dict[str, Any] | None = None,
        lr: float = 1e-2,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive("lr", lr, 1e-2)
        check_non_negative("weight_decay", weight_decay, 0.0)
        check_augment_options(augment)
        self.save_hyperparameters()
        trunk, pretrain_hp = load_pretrained_trunk(checkpoint_path)
        self.net = MultiHeadNet(trunk)
        # a parameter-free BatchNorm standardizes the features first (MAE's linear-probe recipe)
        head = nn.Sequential(
            nn.BatchNorm1d(self.net.feature_dim, affine=False), nn.Linear(self.net.feature_dim, num_classes)
        )
        self.net.add_head("classifier", head)
        self.net.freeze_trunk(not finetune)
        image_size, in_chans = pretrain_hp.get("image_size", 32), pretrain_hp.get("in_chans", 3)
        self.augment = ViewAugment(image_size, in_chans, **augment) if augment is not None else None
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images, "classifier")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        if self.augment is not None:
            images = self.augment(images)
        loss = F.cross_entropy(self(images), labels, ignore_index=-1)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.val_accuracy(self(batch[0]), batch[1])
        self.log("val/acc", self.val_accuracy, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        self.test_accuracy(self(batch[0]), batch[1])
        self.log("test/acc", self.test_accuracy)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        params = [p for p in self.net.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=self.hparams.lr, weight_decay=self.hparams.weight_decay)
