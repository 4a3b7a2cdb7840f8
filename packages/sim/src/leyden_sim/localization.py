"""Tobin et al. (2017): regress where the target object is, trained only on randomized renders.

Each step: features of the rendered table → a ``position`` head (sigmoid, (x, y) in [0, 1]) and a
``shape`` head (which shape the target is); loss = squared position error + ``class_weight`` ×
shape cross-entropy (:func:`leyden_sim.losses.localization_loss`). Validation reports the mean
distance between predicted and true position as a fraction of the image side, the quantity
Tobin et al. report in centimetres on the real table.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torchmetrics import MeanMetric

from leyden_core.backbones import create_backbone
from leyden_core.multihead import MultiHeadNet
from leyden_core.wandb_logging import log_image_grid
from leyden_sim.losses import localization_loss


class PositionRegressor(pl.LightningModule):
    """A trunk with a ``position`` regression head and a ``shape`` classification head."""

    def __init__(
        self,
        backbone: str = "leyden_tiny_cnn",
        small_images: bool = True,
        in_chans: int = 3,
        num_shapes: int = 5,
        class_weight: float = 0.1,
        lr: float = 2e-3,
        weight_decay: float = 1e-4,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = MultiHeadNet(create_backbone(backbone, small_images=small_images, in_chans=in_chans))
        self.net.add_head("position", nn.Sequential(nn.Linear(self.net.feature_dim, 2), nn.Sigmoid()))
        self.net.add_linear_head("shape", num_shapes)
        self.val_error = MeanMetric()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Predicted target position (x, y) in [0, 1] image coordinates."""
        return self.net(images, head="position")

    def step(self, batch: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        images, positions, shapes = batch
        features = self.net.features(images)
        predicted = self.net.heads["position"](features)
        loss = localization_loss(
            predicted, positions, self.net.heads["shape"](features), shapes, self.hparams.class_weight
        )
        return loss, predicted, positions

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        if self.global_step == 0:
            log_image_grid(self.trainer, "samples/train", batch[0][:64])
        loss, _, _ = self.step(batch)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        loss, predicted, positions = self.step(batch)
        self.val_error.update((predicted - positions).norm(dim=1))
        self.log("val/loss", loss)
        self.log("val/position_error", self.val_error, prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            self.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
