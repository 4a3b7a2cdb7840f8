"""FixMatch (Sohn et al. 2020): the model's confident prediction on a weak view is the label of a strong view.

for each batch (x_l, y_l) of B labeled and x_u of μB unlabeled images:
    w_l, w_u = weak(x_l), weak(x_u)                      # flip (where it makes sense) and shift
    s_u = strong(x_u)                                    # weak + RandAugment + Cutout, on the device
    logits = classifier([w_l, w_u, s_u])                 # one forward: BatchNorm sees all three
    p = softmax(logits_w_u);  mask = max(p) ≥ τ          # confident weak predictions (τ = 0.95)
    loss = cross_entropy(logits_w_l, y_l)
         + λ_u · mean(mask · cross_entropy(logits_s_u, argmax(p)))

Train with :class:`~leyden_selfsup.semisup_data.LabeledUnlabeledDataModule`, which yields the labeled
and unlabeled batches together. Noisy Student (:mod:`leyden_selfsup.noisy_student`) is the
teacher–student alternative on the same data.
"""

from __future__ import annotations

import math
from typing import Any

import kornia.augmentation as K
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from leyden_core.backbones import check_data_fits, create_backbone
from leyden_core.checks import check_choice, check_count, check_fraction, check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_core.multihead import MultiHeadNet
from leyden_selfsup.augment import ViewAugment, check_augment_options
from leyden_selfsup.evaluation import ClassifierAccuracy
from leyden_selfsup.losses import fixmatch_unlabeled_loss

OPTIMIZERS = ("sgd", "adamw")


class StrongAugment(nn.Module):
    """FixMatch's strong view: the weak view, then RandAugment (``ops`` random operations at
    ``magnitude`` of 30) and Cutout (one erased rectangle per image)."""

    def __init__(self, weak: ViewAugment, ops: int = 2, magnitude: int = 10) -> None:
        super().__init__()
        self.weak = weak
        # kornia's policy has learnable operation probabilities (for differentiable search): fixed here
        self.rand_augment = K.auto.RandAugment(n=ops, m=magnitude).requires_grad_(False)
        self.cutout = K.RandomErasing(scale=(0.02, 0.25), p=1.0)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.cutout(self.rand_augment(self.weak(images))).clamp_(0.0, 1.0)


class FixMatch(ClassifierAccuracy, pl.LightningModule):
    """FixMatch over any backbone.

    Args:
        backbone, small_images, in_chans, image_size, num_classes: the classifier (the paper's is a
            WideResNet-28-2; a small-stem ResNet-18 is the closest timm model).
        confidence_threshold: τ, the weak view's confidence needed for a pseudo-label (0.95).
        unlabeled_weight: λ_u (1).
        weak_augment: overrides of :class:`~leyden_selfsup.augment.ViewAugment`'s arguments for the
            weak view (default: crops keeping 75–100% of the image, flip 0.5, no colour change).
        strong_ops, strong_magnitude: RandAugment's number of operations and magnitude (2, 10).
        optimizer: ``sgd`` (the paper's, Nesterov) or ``adamw``.
        lr, weight_decay, momentum: of the optimizer (0.03, 5e-4, 0.9); the learning rate follows the
            paper's ``cos(7πk / 16K)`` decay over training.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        small_images: bool = True,
        in_chans: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        confidence_threshold: float = 0.95,
        unlabeled_weight: float = 1.0,
        weak_augment: dict[str, Any] | None = None,
        strong_ops: int = 2,
        strong_magnitude: int = 10,
        optimizer: str = "sgd",
        lr: float = 0.03,
        weight_decay: float = 5e-4,
        momentum: float = 0.9,
    ) -> None:
        super().__init__()
        check_fraction("confidence_threshold", confidence_threshold, 0.95)
        check_non_negative("unlabeled_weight", unlabeled_weight, 1.0)
        check_count("strong_ops", strong_ops)
        check_count("strong_magnitude", strong_magnitude, minimum=0)
        check_choice("optimizer", optimizer, OPTIMIZERS)
        check_positive("lr", lr, 0.03)
        check_non_negative("weight_decay", weight_decay, 5e-4)
        check_fraction("momentum", momentum, 0.9)
        weak_options = check_augment_options(weak_augment)
        self.save_hyperparameters()
        trunk = create_backbone(backbone, small_images=small_images, in_chans=in_chans, image_size=image_size)
        self.net = MultiHeadNet(trunk)
        self.net.add_linear_head("classifier", num_classes)
        weak_defaults = {"crop_scale": (0.75, 1.0), "jitter_p": 0.0, "grayscale_p": 0.0}
        self.weak = ViewAugment(image_size, in_chans, **{**weak_defaults, **weak_options})
        self.strong = StrongAugment(self.weak, strong_ops, strong_magnitude)
        self.init_accuracy(num_classes)

    def setup(self, stage: str) -> None:
        hp = self.hparams
        check_data_fits(self.net.trunk, hp.backbone, hp.in_chans, hp.num_classes, self.trainer.datamodule)

    def on_fit_start(self) -> None:
        if not hasattr(self.trainer.datamodule, "unlabeled_ratio"):
            raise LeydenConfigError(
                "FixMatch needs labeled and unlabeled batches together",
                "use data: {class_path: LabeledUnlabeledDataModule, init_args: {datamodule: DigitsDataModule, ...}}",
            )

    def training_step(self, batch: dict[str, list[torch.Tensor]], batch_idx: int) -> torch.Tensor:
        (labeled_images, labels), unlabeled_images = batch["labeled"], batch["unlabeled"][0]
        views = [self.weak(labeled_images), self.weak(unlabeled_images), self.strong(unlabeled_images)]
        logits = self.net(torch.cat(views), "classifier")
        labeled_logits, weak_logits, strong_logits = logits.split([len(v) for v in views])
        supervised = F.cross_entropy(labeled_logits, labels)
        threshold = self.hparams.confidence_threshold
        unsupervised = fixmatch_unlabeled_loss(strong_logits, weak_logits, threshold)
        loss = supervised + self.hparams.unlabeled_weight * unsupervised
        with torch.no_grad():
            coverage = (weak_logits.softmax(dim=1).max(dim=1).values >= threshold).float().mean()
        self.log_dict(
            {
                "train/supervised_loss": supervised,
                "train/unlabeled_loss": unsupervised,
                "train/mask_rate": coverage,
            }
        )
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        decay = [p for p in self.net.parameters() if p.ndim > 1]
        no_decay = [p for p in self.net.parameters() if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": hp.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        if hp.optimizer == "sgd":
            optimizer = torch.optim.SGD(groups, lr=hp.lr, momentum=hp.momentum, nesterov=True)
        else:
            optimizer = torch.optim.AdamW(groups, lr=hp.lr)
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = LambdaLR(optimizer, lambda step: math.cos(7 * math.pi * min(step, total) / (16 * total)))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
