"""Supervised image classification over any backbone: the baseline every method is compared to."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from leyden_core.backbones import check_data_fits, create_backbone
from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_core.multihead import MultiHeadNet


class ImageClassifier(pl.LightningModule):
    """A backbone trunk with a linear ``classifier`` head, trained with cross-entropy.

    Samples labeled ``-1`` (withheld labels, see ``DigitsDataModule``) are ignored by the loss.

    Args:
        backbone: any timm model name (``leyden_tiny_cnn`` for fast CPU runs).
        small_images: stride-1 stem for 8–64 px inputs (see :mod:`leyden_core.backbones`).
        in_chans, num_classes: must match the data (checked when training starts).
        lr, weight_decay: of AdamW.
        drop_rate: dropout before the classifier.
        backbone_kwargs: extra arguments for ``timm.create_model`` (e.g. a ViT's ``img_size``).
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        small_images: bool = True,
        in_chans: int = 3,
        num_classes: int = 10,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        drop_rate: float = 0.0,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_positive("lr", lr, 1e-3)
        check_non_negative("weight_decay", weight_decay, 1e-4)
        check_fraction("drop_rate", drop_rate, 0.1, include_one=False)
        check_count("num_classes", num_classes, minimum=2)
        self.save_hyperparameters()
        trunk = create_backbone(
            backbone,
            small_images=small_images,
            in_chans=in_chans,
            drop_rate=drop_rate,
            **(backbone_kwargs or {}),
        )
        self.net = MultiHeadNet(trunk)
        self.net.add_linear_head("classifier", num_classes)
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")

    def setup(self, stage: str) -> None:
        hp = self.hparams
        datamodule = getattr(self.trainer, "datamodule", None) if self._trainer is not None else None
        check_data_fits(self.net.trunk, hp.backbone, hp.in_chans, hp.num_classes, datamodule)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images, head="classifier")

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = F.cross_entropy(self(images), labels, ignore_index=-1)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.val_accuracy(self(images), labels)
        self.log("val/acc", self.val_accuracy, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.test_accuracy(self(images), labels)
        self.log("test/acc", self.test_accuracy)

    def predict_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self(batch[0]).argmax(dim=1)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
