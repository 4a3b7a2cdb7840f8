"""Noisy Student (Xie et al. 2020): a teacher labels the unlabeled data, a noised student learns it all.

    round 0:  train a classifier on the labeled data (with noise)          → teacher
    round r:  pseudo-label the unlabeled data with the teacher (clean input, no noise):
                  hard (argmax) or soft (probabilities), keep confidence ≥ threshold,
                  reweight classes so every class counts the same
              train a fresh student from scratch on labeled + pseudo-labeled data, noised by
                  strong augmentation, dropout and stochastic depth
              the student becomes the teacher of round r + 1

Every step draws a labeled batch (sampled with replacement from the datamodule's ``labeled`` set,
so the few labels are seen often; each DDP rank from its own shard) next to the training batch,
whose unlabeled samples (label -1) get pseudo-labels. Rounds last ``epochs_per_round`` epochs, so ``trainer.max_epochs = (rounds + 1) * epochs_per_round``.
The round, the teacher and the class weights are module buffers: a checkpoint holds them, and a
resumed run continues the right round. The student is re-initialized in place (same parameter
objects), which keeps the optimizer and DDP wiring valid across rounds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset, RandomSampler, Subset

from leyden_core import distributed
from leyden_core.backbones import create_backbone
from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_core.multihead import MultiHeadNet
from leyden_selfsup.augment import ViewAugment, check_augment_options
from leyden_selfsup.evaluation import ClassifierAccuracy
from leyden_selfsup.losses import pseudo_label_loss
from leyden_selfsup.optim import warmup_cosine

PSEUDO_LABELS = ("hard", "soft")
LR_SCHEDULES = ("constant", "cosine")


def endless_labeled_batches(labeled: Dataset, batch_size: int) -> Iterator[list[torch.Tensor]]:
    """Labeled batches forever, drawn with replacement from this rank's shard of ``labeled``.

    Under DDP, rank r samples only indices r, r + world_size, ... with its own generator (seeded
    from the run's seed and the rank), so at every step the ranks see different labeled samples
    and together cover the whole labeled set, like ``DistributedSampler`` does for the main batches.
    """
    shard = Subset(labeled, range(distributed.rank(), len(labeled), distributed.world_size()))
    if len(shard) == 0:
        raise LeydenConfigError(
            f"{len(labeled)} labeled samples cannot be shared by {distributed.world_size()} ranks",
            "label more samples (labeled_fraction / labels_per_class) or use fewer devices",
        )
    generator = torch.Generator().manual_seed((torch.initial_seed() + distributed.rank()) % 2**63)
    sampler = RandomSampler(shard, replacement=True, num_samples=2**62, generator=generator)
    return iter(DataLoader(shard, batch_size, sampler=sampler))


class NoisyStudent(ClassifierAccuracy, pl.LightningModule):
    """Self-training with a noised, equal-size student over any backbone.

    Train with a datamodule whose training batches mix labeled samples and unlabeled ones (label
    -1), with a ``labeled`` dataset and ``unlabeled_dataloader()`` (e.g. ``DigitsDataModule(train_on=
    "all", labeled_fraction=0.05)``); its ``unlabeled_targets``, when present, measure pseudo-label accuracy.

    Args:
        backbone, small_images, in_chans, image_size, num_classes: the classifier.
        rounds: student rounds after the teacher's round 0.
        epochs_per_round: epochs of each round.
        pseudo_labels: ``hard`` or ``soft``.
        confidence_threshold: pseudo-labels whose top probability is lower get weight 0.
        balance_classes: weight pseudo-labels by inverse class frequency among the confident ones.
        unlabeled_weight: weight of the pseudo-label loss against the labeled loss.
        drop_rate, drop_path_rate: dropout before the classifier and stochastic depth (where the
            backbone supports it); with ``augment`` (strong views) they are the student's noise.
        labeled_batch_size: size of the labeled batch drawn at every step.
        lr, weight_decay: of AdamW; the optimizer state is reset for every new student.
        lr_schedule: ``constant``, or ``cosine``: decay to zero within every round and restart with
            each new student, so that each round ends on settled weights rather than a noisy last step.
    """

    def __init__(
        self,
        backbone: str = "resnet18",
        small_images: bool = True,
        in_chans: int = 3,
        image_size: int = 32,
        num_classes: int = 10,
        rounds: int = 2,
        epochs_per_round: int = 10,
        pseudo_labels: str = "hard",
        confidence_threshold: float = 0.7,
        balance_classes: bool = True,
        unlabeled_weight: float = 1.0,
        drop_rate: float = 0.3,
        drop_path_rate: float = 0.0,
        augment: dict[str, Any] | None = None,
        labeled_batch_size: int = 32,
        lr: float = 1e-3,
        weight_decay: float = 1e-4,
        lr_schedule: str = "constant",
    ) -> None:
        super().__init__()
        check_positive("lr", lr, 1e-3)
        check_non_negative("weight_decay", weight_decay, 1e-4)
        check_non_negative("unlabeled_weight", unlabeled_weight, 1.0)
        check_fraction("confidence_threshold", confidence_threshold, 0.7)
        check_fraction("drop_rate", drop_rate, 0.3, include_one=False)
        for name, value in (("rounds", rounds), ("epochs_per_round", epochs_per_round)):
            check_count(name, value)
        check_count("labeled_batch_size", labeled_batch_size)
        check_augment_options(augment)
        if pseudo_labels not in PSEUDO_LABELS:
            raise LeydenConfigError(f"unknown pseudo_labels {pseudo_labels!r}", "use hard or soft")
        if lr_schedule not in LR_SCHEDULES:
            raise LeydenConfigError(f"unknown lr_schedule {lr_schedule!r}", "use constant or cosine")
        self.save_hyperparameters()
        self.net = self.build_classifier()
        self.teacher = self.build_classifier().requires_grad_(False).eval()
        self.augment = ViewAugment(
            image_size, in_chans, **{"crop_scale": (0.5, 1.0), "flip_p": 0.0, **(augment or {})}
        )
        self.register_buffer("round", torch.zeros((), dtype=torch.long))
        self.register_buffer("class_weights", torch.ones(num_classes))
        self.register_buffer("teacher_accuracy", torch.tensor(math.nan))
        self.init_accuracy(num_classes)

    def build_classifier(self) -> MultiHeadNet:
        hp = self.hparams
        kwargs = {"drop_path_rate": hp.drop_path_rate} if hp.drop_path_rate else {}
        trunk = create_backbone(hp.backbone, small_images=hp.small_images, in_chans=hp.in_chans, **kwargs)
        net = MultiHeadNet(trunk)
        net.add_head(
            "classifier", nn.Sequential(nn.Dropout(hp.drop_rate), nn.Linear(net.feature_dim, hp.num_classes))
        )
        return net

    def train(self, mode: bool = True) -> NoisyStudent:
        super().train(mode)
        self.teacher.eval()  # the teacher labels clean inputs without noise
        return self

    def on_fit_start(self) -> None:
        hp = self.hparams
        if self.trainer.max_epochs != (hp.rounds + 1) * hp.epochs_per_round:
            raise LeydenConfigError(
                f"trainer.max_epochs is {self.trainer.max_epochs}, but {hp.rounds} rounds of {hp.epochs_per_round} "
                "epochs after the teacher's round need more or fewer",
                f"set trainer.max_epochs: {(hp.rounds + 1) * hp.epochs_per_round}",
            )
        datamodule = self.trainer.datamodule
        if not (hasattr(datamodule, "unlabeled_dataloader") and hasattr(datamodule, "labeled")):
            raise LeydenConfigError(
                "NoisyStudent needs a datamodule with a labeled dataset and unlabeled_dataloader()",
                "use DigitsDataModule(train_on=all, labeled_fraction=...) or STL10DataModule",
            )
        self.labeled_batches = endless_labeled_batches(datamodule.labeled, hp.labeled_batch_size)

    @torch.no_grad()
    def pseudo_label(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The teacher's targets for clean ``images`` and each sample's weight (0 if not confident)."""
        probs = self.teacher(images, "classifier").softmax(dim=1)
        confidence, hard = probs.max(dim=1)
        weights = (confidence >= self.hparams.confidence_threshold).float() * self.class_weights[hard]
        return (hard if self.hparams.pseudo_labels == "hard" else probs), weights

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> torch.Tensor:
        labeled_images, labels = (t.to(self.device) for t in next(self.labeled_batches))
        if self.round == 0:  # the teacher learns from labels alone
            loss = F.cross_entropy(self.net(self.augment(labeled_images), "classifier"), labels)
        else:
            images = batch[0][batch[1] == -1]
            targets, weights = self.pseudo_label(images)
            logits = self.net(self.augment(torch.cat([labeled_images, images])), "classifier")
            labeled_logits, unlabeled_logits = logits[: len(labels)], logits[len(labels) :]
            loss = F.cross_entropy(labeled_logits, labels)
            loss = loss + self.hparams.unlabeled_weight * pseudo_label_loss(
                unlabeled_logits, targets, weights
            )
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def on_train_epoch_end(self) -> None:
        """At the end of a round: report it, and unless it was the last, start the next one."""
        if (self.current_epoch + 1) % self.hparams.epochs_per_round:
            return
        student_accuracy = float(self.trainer.callback_metrics.get("val/acc", math.nan))
        self.log_dict(
            {
                "round/index": float(self.round),
                "round/student_acc": student_accuracy,
                "round/teacher_acc": float(self.teacher_accuracy),
            },
            sync_dist=False,
        )
        if self.round < self.hparams.rounds:
            self.start_round(student_accuracy)

    def start_round(self, student_accuracy: float) -> None:
        """The student becomes the teacher; a fresh student starts from scratch with fresh optimizer state."""
        self.teacher.load_state_dict(self.net.state_dict())
        self.teacher_accuracy.fill_(student_accuracy)
        self.net.load_state_dict(self.build_classifier().to(self.device).state_dict())
        for optimizer in self.trainer.optimizers:
            optimizer.state.clear()
        self.round += 1
        self.log_dict({f"round/{k}": v for k, v in self.measure_pseudo_labels().items()}, sync_dist=False)

    @torch.no_grad()
    def measure_pseudo_labels(self) -> dict[str, float]:
        """Label the whole unlabeled set once: class weights, coverage and (when known) accuracy.

        Every rank labels the whole set with the same teacher, so the results agree without a reduce.
        """
        datamodule = self.trainer.datamodule
        predictions, confident = [], []
        for images, _ in datamodule.unlabeled_dataloader():
            probs = self.teacher(images.to(self.device), "classifier").softmax(dim=1)
            confidence, hard = probs.max(dim=1)
            predictions.append(hard)
            confident.append(confidence >= self.hparams.confidence_threshold)
        predictions, confident = torch.cat(predictions), torch.cat(confident)
        counts = torch.bincount(predictions[confident], minlength=self.hparams.num_classes).float()
        if self.hparams.balance_classes:
            self.class_weights.copy_(torch.where(counts > 0, counts.mean() / counts.clamp(min=1), 0.0))
        stats = {"pseudo_label_coverage": confident.float().mean().item()}
        targets = getattr(datamodule, "unlabeled_targets", None)
        if targets is not None:
            correct = predictions.cpu() == targets
            stats["pseudo_label_acc"] = correct.float().mean().item()
            stats["pseudo_label_acc_confident"] = correct[confident.cpu()].float().mean().item()
        return stats

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(
            self.net.parameters(), lr=self.hparams.lr, weight_decay=self.hparams.weight_decay
        )
        if self.hparams.lr_schedule == "constant":
            return {"optimizer": optimizer}
        steps_per_round = max(1, self.trainer.estimated_stepping_batches // (self.hparams.rounds + 1))
        cosine = warmup_cosine(0, steps_per_round)
        scheduler = LambdaLR(optimizer, lambda step: cosine(step % steps_per_round))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
