"""What every self-supervised method shares: backbone, on-device views, online evaluation, optimizer.

A method subclasses :class:`SelfSupervisedModule` and writes only its pretext: ``pretext_step``
turns a batch of clean images into a loss. Around it this class trains an online linear probe and
fills a kNN bank from the labeled samples of the same training batches (clean, detached features), evaluates both on the validation set, and builds the optimizer (AdamW, SGD or LARS, with
warmup + cosine) with the probe in its own parameter group.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning.pytorch as pl
import torch
from torch import nn

from leyden_core.backbones import check_data_fits, create_backbone
from leyden_core.checks import check_choice, check_count, check_fraction, check_non_negative, check_positive
from leyden_core.multihead import MultiHeadNet
from leyden_core.wandb_logging import log_image_grid
from leyden_selfsup.augment import ViewAugment, check_augment_options
from leyden_selfsup.evaluation import UNLABELED, KNNAccuracy, OnlineLinearProbe
from leyden_selfsup.optim import LARS, warmup_cosine

OPTIMIZERS = ("adamw", "sgd", "lars")


def mlp(in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2, last_bn: bool = False) -> nn.Sequential:
    """Projection/prediction head: (Linear → BN → ReLU) × (layers - 1) → Linear [→ BN]."""
    blocks: list[nn.Module] = []
    width = in_dim
    for _ in range(layers - 1):
        blocks += [
            nn.Linear(width, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
        ]
        width = hidden_dim
    blocks.append(nn.Linear(width, out_dim, bias=not last_bn))
    if last_bn:
        blocks.append(nn.BatchNorm1d(out_dim, affine=False))
    return nn.Sequential(*blocks)


class SelfSupervisedModule(pl.LightningModule):
    """Base of the pretraining methods. Subclasses implement :meth:`pretext_step`.

    Args:
        backbone: any timm model name (``leyden_tiny_cnn`` for fast CPU runs).
        small_images: 3×3 stride-1 stem without max-pool, for 8–64 px inputs.
        in_chans, image_size: input channels and side; views are made at ``image_size``.
        num_classes: classes of the online probe and the kNN classifier.
        augment: overrides of :class:`~leyden_selfsup.augment.ViewAugment`'s arguments
            (``crop_scale``, ``flip_p``, ``jitter``, ``jitter_p``, ``grayscale_p``, ``blur_p``, ``solarize_p``).
        optimizer: ``adamw``, ``sgd`` or ``lars`` (biases and norms excluded from LARS and decay).
        lr, weight_decay, momentum: of the pretraining optimizer; lars_eta: LARS's trust coefficient.
        warmup_epochs: linear warmup before the cosine decay (0 = cosine from the start).
        probe_lr: learning rate of the online probe (its own parameter group, constant).
        knn_k, knn_temperature: of the kNN classifier.
        backbone_kwargs: extra arguments for ``timm.create_model`` (``drop_path_rate``, ``width``...).
    """

    default_augment: ClassVar[dict[str, Any]] = {}

    def __init__(
        self,
        backbone: str = "resnet18",
        small_images: bool = True,
        in_chans: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        augment: dict[str, Any] | None = None,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        momentum: float = 0.9,
        lars_eta: float = 0.02,
        warmup_epochs: int = 0,
        probe_lr: float = 1e-2,
        knn_k: int = 20,
        knn_temperature: float = 0.1,
        backbone_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_choice("optimizer", optimizer, OPTIMIZERS)
        for name, value, example in (("lr", lr, 1e-3), ("probe_lr", probe_lr, 1e-2)):
            check_positive(name, value, example)
        check_positive("knn_temperature", knn_temperature, 0.1)
        check_non_negative("weight_decay", weight_decay, 1e-6)
        check_fraction("momentum", momentum, 0.9)
        check_count("warmup_epochs", warmup_epochs, minimum=0)
        check_count("knn_k", knn_k)
        check_count("image_size", image_size, minimum=8)
        check_count("num_classes", num_classes, minimum=2)
        augment_options = check_augment_options(augment)
        self.save_hyperparameters()
        trunk = create_backbone(
            backbone,
            small_images=small_images,
            in_chans=in_chans,
            image_size=image_size,
            **(backbone_kwargs or {}),
        )
        self.net = MultiHeadNet(trunk)
        self.augment = ViewAugment(image_size, in_chans, **{**self.default_augment, **augment_options})
        self.probe = OnlineLinearProbe(self.net.feature_dim, num_classes)
        self.knn = KNNAccuracy(knn_k, knn_temperature, num_classes)

    def setup(self, stage: str) -> None:
        """Refuse data the backbone cannot take (channels, size, classes) before the first batch."""
        hp = self.hparams
        check_data_fits(self.net.trunk, hp.backbone, hp.in_chans, hp.num_classes, self.trainer.datamodule)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        """The method's loss on a batch of clean images (views are made inside)."""
        raise NotImplementedError

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        images, labels = batch
        loss = self.pretext_step(images)
        labeled = labels != UNLABELED
        features = self.clean_features(images[labeled])
        probe_loss = self.probe.training_loss(features, labels[labeled])
        self.knn.update(features, labels[labeled], train=True)
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/probe_loss", probe_loss)
        self.log("train/probe_acc", self.probe.train_accuracy, on_step=False, on_epoch=True)
        return loss + probe_loss

    @torch.no_grad()
    def clean_features(self, images: torch.Tensor) -> torch.Tensor:
        """Features of un-augmented images as validation computes them (BN in eval mode).

        The probe and the kNN bank learn from these, so they are trained on what they are tested on;
        only labeled samples are encoded, so with few labels this costs next to nothing.
        """
        was_training = self.net.training
        self.net.eval()
        features = self.net.features(images)
        self.net.train(was_training)
        return features

    def on_train_epoch_start(self) -> None:
        self.knn.reset()  # the bank holds one epoch: each labeled sample once, with current features

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        features = self.net.features(images)
        self.probe.validate(features, labels)
        self.knn.update(features, labels, train=False)
        self.log("val/probe_acc", self.probe.val_accuracy, prog_bar=True)

    def on_validation_epoch_end(self) -> None:
        if self.knn.has_bank():  # no bank before the first training batch (sanity check)
            self.log("val/knn_acc", self.knn.compute(), prog_bar=True)
        self.knn.reset()

    def log_views(self, *views: torch.Tensor) -> None:
        """A grid of the first augmented views to W&B, once, at the start of training."""
        if self.global_step == 0:
            log_image_grid(self.trainer, "train/views", torch.cat([v[:8] for v in views]), nrow=8)

    def configure_optimizers(self) -> dict[str, Any]:
        hp = self.hparams
        probe = {id(p) for p in self.probe.parameters()}
        trainable = [(n, p) for n, p in self.named_parameters() if p.requires_grad and id(p) not in probe]
        decay = [p for n, p in trainable if p.ndim > 1]
        no_decay = [p for n, p in trainable if p.ndim <= 1]
        groups = [
            {"params": decay, "weight_decay": hp.weight_decay},
            {"params": no_decay, "weight_decay": 0.0, "lars": False},
        ]
        if hp.optimizer == "lars":
            optimizer = LARS(groups, lr=hp.lr, momentum=hp.momentum, eta=hp.lars_eta)
        elif hp.optimizer == "sgd":
            optimizer = torch.optim.SGD(
                [{k: v for k, v in g.items() if k != "lars"} for g in groups], lr=hp.lr, momentum=hp.momentum
            )
        else:
            optimizer = torch.optim.AdamW(
                [{k: v for k, v in g.items() if k != "lars"} for g in groups], lr=hp.lr
            )
        # the probe learns at its own constant rate: a separate optimizer would need manual optimization
        optimizer.add_param_group(
            {
                "params": list(self.probe.parameters()),
                "lr": hp.probe_lr,
                "weight_decay": 0.0,
                "lars": False,
                "momentum": 0.9,
            }
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        steps_per_epoch = max(1, total // max(1, self.trainer.max_epochs or 1))
        schedule = warmup_cosine(hp.warmup_epochs * steps_per_epoch, total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [schedule, schedule, lambda _: 1.0])
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
