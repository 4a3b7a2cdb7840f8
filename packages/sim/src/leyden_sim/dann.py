"""Domain-adversarial training (DANN, Ganin & Lempitsky 2015), with Tzeng et al.'s (2015)
domain confusion loss as an option.

Labeled source (SynDigits) and unlabeled target (real digits) batches arrive together from a
``CombinedLoader``. Each step:

1. progress p = global_step / estimated_stepping_batches; λ = 2 / (1 + exp(−10 p)) − 1
2. features of source and target images from one shared trunk (``per_domain_bn=True``: two
   forward passes, so BatchNorm normalizes each domain with its own batch statistics — the
   trunk need not spend capacity on the domains' first and second moments; pair it with
   :class:`~leyden_sim.adabn.AdaBN` so evaluation uses the target's statistics too)
3. classification loss on the source features only (target labels are never read); with
   ``label_smoothing`` > 0 the targets are smoothed, so the classifier is not pushed to be
   certain about renders — synthetic confidence does not transfer to real images
4. ``objective="dann"``: the domain discriminator sees the features through a gradient
   reversal layer scaled by λ; minimizing its loss trains the discriminator and, reversed,
   pushes the trunk towards domain-invariant features.
   ``objective="confusion"``: the discriminator trains on detached features; the trunk
   minimizes the cross-entropy of the (frozen) discriminator's output against uniform, × λ.
5. total = classification + domain_weight × domain term; discriminator accuracy is logged.

With ``domain_weight=0`` and plain ``(images, labels)`` batches it is the source-only baseline:
same network, optimizer and schedule, no target data.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from torchmetrics.classification import MulticlassAccuracy

from leyden_core.backbones import create_backbone
from leyden_core.checks import check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_core.multihead import MultiHeadNet
from leyden_core.wandb_logging import log_image_grid
from leyden_sim.grl import dann_lambda, grad_reverse
from leyden_sim.losses import domain_accuracy, domain_adversarial_loss, domain_confusion_loss

OBJECTIVES = ("dann", "confusion")


class DANN(pl.LightningModule):
    """A trunk with a ``classifier`` head and a ``domain`` discriminator head, trained adversarially."""

    def __init__(
        self,
        backbone: str = "leyden_tiny_cnn",
        backbone_kwargs: dict | None = None,
        small_images: bool = True,
        in_chans: int = 1,
        num_classes: int = 10,
        objective: str = "dann",
        domain_weight: float = 1.0,
        gamma: float = 10.0,
        discriminator_width: int = 256,
        optimizer: str = "adamw",
        lr: float = 1e-3,
        weight_decay: float = 5e-4,
        anneal_lr: bool = False,
        per_domain_bn: bool = False,
        label_smoothing: float = 0.0,
        mixup_alpha: float = 0.0,
    ) -> None:
        super().__init__()
        check_positive("lr", lr, 1e-3)
        check_non_negative("weight_decay", weight_decay, 5e-4)
        if objective not in OBJECTIVES:
            raise LeydenConfigError(f"unknown objective {objective!r}", f"use one of {OBJECTIVES}")
        if optimizer not in ("adamw", "sgd"):
            raise LeydenConfigError(f"unknown optimizer {optimizer!r}", "use 'adamw' or 'sgd' (momentum 0.9)")
        if mixup_alpha > 0 and domain_weight > 0:
            raise LeydenConfigError(
                "mixup_alpha is implemented for the source-only classifier (domain_weight: 0)",
                "set mixup_alpha: 0 for DANN, or domain_weight: 0",
            )
        self.save_hyperparameters()
        trunk = create_backbone(
            backbone, small_images=small_images, in_chans=in_chans, **(backbone_kwargs or {})
        )
        self.net = MultiHeadNet(trunk)
        self.net.add_linear_head("classifier", num_classes)
        width = discriminator_width
        self.net.add_head(
            "domain",
            nn.Sequential(
                nn.Linear(self.net.feature_dim, width),
                nn.ReLU(),
                nn.Linear(width, width),
                nn.ReLU(),
                nn.Linear(width, 1),
            ),
        )
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images, head="classifier")

    def progress(self) -> float:
        total = self.trainer.estimated_stepping_batches if self._trainer is not None else 0
        return self.global_step / total if total and total != float("inf") else 0.0

    def training_step(self, batch: dict | tuple, batch_idx: int) -> torch.Tensor:
        if not isinstance(batch, dict) and self.hparams.domain_weight == 0:
            return self.source_only_step(*batch)
        if not isinstance(batch, dict) or not {"source", "target"} <= set(batch):
            raise LeydenConfigError(
                "DANN needs batches with 'source' and 'target' parts (or domain_weight: 0 for source only)",
                "use SynDigitsDataModule(with_target=True) or a CombinedLoader({'source', 'target'})",
            )
        (source_x, source_y), (target_x, _) = batch["source"], batch["target"]  # target labels unused
        if self.global_step == 0:
            log_image_grid(self.trainer, "samples/source", source_x[:64])
            log_image_grid(self.trainer, "samples/target", target_x[:64])
        lam = dann_lambda(self.progress(), self.hparams.gamma)

        if self.hparams.per_domain_bn:
            features = torch.cat([self.net.features(source_x), self.net.features(target_x)])
        else:
            features = self.net.features(torch.cat([source_x, target_x]))
        source_features, n_source = features[: len(source_x)], len(source_x)
        class_loss = self.class_loss(self.net.heads["classifier"](source_features), source_y)

        discriminator = self.net.heads["domain"]
        if self.hparams.objective == "dann":
            logits = discriminator(grad_reverse(features, lam)).squeeze(1)
            domain_loss = domain_adversarial_loss(logits[:n_source], logits[n_source:])
            feature_loss = domain_loss
        else:
            logits = discriminator(features.detach()).squeeze(1)
            domain_loss = domain_adversarial_loss(logits[:n_source], logits[n_source:])
            frozen = {name: p.detach() for name, p in discriminator.named_parameters()}
            confused = functional_call(discriminator, frozen, (features,)).squeeze(1)
            feature_loss = domain_loss + lam * domain_confusion_loss(confused[:n_source], confused[n_source:])
        loss = class_loss + self.hparams.domain_weight * feature_loss

        self.log_dict(
            {
                "train/class_loss": class_loss,
                "train/domain_loss": domain_loss,
                "train/domain_acc": domain_accuracy(logits[:n_source].detach(), logits[n_source:].detach()),
                "train/lambda": lam,
                "train/loss": loss,
            },
            prog_bar=False,
        )
        return loss

    def class_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, labels, label_smoothing=self.hparams.label_smoothing)

    def source_only_step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The baseline: the same network, optimizer and schedule, trained on the source alone."""
        if self.global_step == 0:
            log_image_grid(self.trainer, "samples/source", images[:64])
        if self.hparams.mixup_alpha > 0:  # mixup (Zhang et al. 2018): convex pairs of renders and labels
            mix = float(np.random.beta(self.hparams.mixup_alpha, self.hparams.mixup_alpha))
            order = torch.randperm(len(images), device=images.device)
            logits = self(mix * images + (1 - mix) * images[order])
            loss = mix * self.class_loss(logits, labels) + (1 - mix) * self.class_loss(logits, labels[order])
        else:
            loss = self.class_loss(self(images), labels)
        self.log("train/class_loss", loss)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.val_accuracy(self(images), labels)
        self.log("val/acc", self.val_accuracy, prog_bar=True)

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.test_accuracy(self(images), labels)
        self.log("test/acc", self.test_accuracy)

    def configure_optimizers(self) -> dict:
        hp = self.hparams
        if hp.optimizer == "sgd":
            opt = torch.optim.SGD(self.parameters(), lr=hp.lr, momentum=0.9, weight_decay=hp.weight_decay)
        else:
            opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        # Ganin & Lempitsky's annealing: lr_p = lr / (1 + 10 p)^0.75, p = training progress
        factor = (lambda _: (1 + 10 * self.progress()) ** -0.75) if hp.anneal_lr else (lambda _: 1.0)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}
