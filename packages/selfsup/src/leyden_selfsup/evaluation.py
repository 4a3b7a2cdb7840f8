"""Evaluation while pretraining: an online linear probe and a weighted kNN classifier.

Both see only detached features, so they measure the representation without shaping it. The
probe is an ordinary submodule (its weights are in the checkpoint, so a resumed run keeps them)
with its own optimizer parameter group; its accuracies are torchmetrics metrics, reduced over
ranks. The kNN classifier is a torchmetrics ``Metric`` whose feature banks are concatenated over
ranks before voting, so every rank classifies against every rank's training samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics import Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.utilities import dim_zero_cat

UNLABELED = -1


class OnlineLinearProbe(nn.Module):
    """A linear classifier trained on detached features; samples labeled -1 are ignored.

    The features are standardized by a parameter-free BatchNorm first (MAE's linear-probe recipe):
    still a linear classifier, but one that converges in few steps whatever the features' scale.
    """

    def __init__(self, feature_dim: int, num_classes: int) -> None:
        super().__init__()
        self.linear = nn.Sequential(
            nn.BatchNorm1d(feature_dim, affine=False), nn.Linear(feature_dim, num_classes)
        )
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro", ignore_index=UNLABELED)
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro", ignore_index=UNLABELED)

    def training_loss(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on the labeled samples (zero, with a graph, when none is labeled)."""
        labeled = labels != UNLABELED
        if labeled.sum() < 2:  # BatchNorm needs two samples; the probe skips this step
            return sum(p.sum() for p in self.parameters()) * 0.0
        logits = self.linear(features[labeled].detach())
        self.train_accuracy.update(logits, labels[labeled])
        return F.cross_entropy(logits, labels[labeled])

    @torch.no_grad()
    def validate(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        self.val_accuracy.update(self.linear.eval()(features), labels)
        self.linear.train(self.training)


class KNNAccuracy(Metric):
    """Accuracy of a temperature-weighted k-nearest-neighbour vote on cosine similarity.

    Training features go in with ``update(features, labels, train=True)`` (the bank), validation
    features with ``train=False``. Each validation sample takes its ``k`` most similar bank
    samples; neighbour ``j`` votes for its class with weight ``exp(sim_j / temperature)`` (Wu et
    al. 2018, the protocol of SimCLR/MoCo/DINO papers). Labels -1 are left out of the bank.
    """

    full_state_update = False

    def __init__(self, k: int = 20, temperature: float = 0.1, num_classes: int = 10, **kwargs) -> None:
        super().__init__(**kwargs)
        self.k, self.temperature, self.num_classes = k, temperature, num_classes
        for name in ("bank_features", "bank_labels", "query_features", "query_labels"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, features: torch.Tensor, labels: torch.Tensor, train: bool) -> None:
        keep = labels != UNLABELED
        features, labels = F.normalize(features[keep].detach().float(), dim=1), labels[keep]
        if train:
            self.bank_features.append(features)
            self.bank_labels.append(labels)
        else:
            self.query_features.append(features)
            self.query_labels.append(labels)

    def compute(self) -> torch.Tensor:
        bank, bank_labels = dim_zero_cat(self.bank_features), dim_zero_cat(self.bank_labels)
        queries, labels = dim_zero_cat(self.query_features), dim_zero_cat(self.query_labels)
        if len(bank) == 0:  # no labeled training sample on any rank this epoch
            return torch.tensor(float("nan"), device=queries.device)
        similarity, index = (queries @ bank.T).topk(min(self.k, len(bank)), dim=1)
        # exp(sim / T) overflows float32 once sim / T > 88 (T <= 0.01); dividing every weight of a query
        # by its largest, exp(sim_max / T), leaves the vote unchanged and keeps every weight in (0, 1].
        weights = ((similarity - similarity[:, :1]) / self.temperature).exp()
        votes = F.one_hot(bank_labels[index], self.num_classes).float() * weights[..., None]
        return (votes.sum(dim=1).argmax(dim=1) == labels).float().mean()

    def has_bank(self) -> bool:
        """True once a training step ran (every step appends, possibly zero rows, so ranks agree)."""
        return len(self.bank_features) > 0


class ClassifierAccuracy:
    """Validation and test accuracy of a semi-supervised classifier's ``classifier`` head (FixMatch,
    Noisy Student): torchmetrics accuracies, so the value is exact across DDP ranks.

    Call :meth:`init_accuracy` in ``__init__``; the class provides ``validation_step`` and ``test_step``.
    """

    def init_accuracy(self, num_classes: int) -> None:
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.val_accuracy(self.net(images, "classifier"), labels)  # type: ignore[attr-defined]
        self.log("val/acc", self.val_accuracy, prog_bar=True)  # type: ignore[attr-defined]

    def test_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        images, labels = batch
        self.test_accuracy(self.net(images, "classifier"), labels)  # type: ignore[attr-defined]
        self.log("test/acc", self.test_accuracy)  # type: ignore[attr-defined]
