"""scikit-learn's handwritten digits (1,797 real 8×8 scans) as a LightningDataModule.

The default data of every Leyden demo and of the label-efficiency and sim-to-real benchmarks: it
ships inside scikit-learn, so nothing is downloaded. Images are resized on load to
``image_size`` and repeated to ``channels``; splits are stratified and fixed by ``seed``.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

from leyden_core.checks import check_count, check_train_batches
from leyden_core.data.labels import check_label_budget, labeled_subset
from leyden_core.errors import LeydenConfigError

UNLABELED = -1
"""Label of a training sample whose label is withheld (``labels_per_class``/``labeled_fraction``)."""


def load_digits_images(image_size: int = 32, channels: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 digits as float images in [0, 1], shape (N, channels, image_size, image_size)."""
    if channels not in (1, 3):
        raise LeydenConfigError(f"channels must be 1 or 3, got {channels}", "set channels: 1 or 3")
    if image_size < 8:
        raise LeydenConfigError(f"image_size must be at least 8, got {image_size}", "set image_size >= 8")
    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    if image_size != 8:
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", align_corners=False)
    images = images.clamp_(0.0, 1.0).expand(-1, channels, -1, -1).contiguous()
    return images, torch.from_numpy(digits.target.astype(np.int64))


class DigitsDataModule(pl.LightningDataModule):
    """Stratified train/val/test splits of the digits, with an optional labeled subset.

    Args:
        image_size: side of the square images (bilinear resize from 8 px).
        channels: 1 (grey) or 3 (grey repeated, for ImageNet-style backbones).
        batch_size: per-process batch size.
        val_fraction, test_fraction: shares of the 1,797 images held out, stratified.
        seed: fixes the splits and the labeled subset.
        labels_per_class / labeled_fraction: keep labels for only this many (or this share) of the
            training images per class (a budget above the smallest class, ~124 images, is an error);
            the rest form :attr:`unlabeled` and, in the training loader, carry the label ``-1``
            (``train_on="all"``) or are left out (``"labeled"``).
        train_on: ``"labeled"`` (supervised training) or ``"all"`` (self-/semi-supervised).
    """

    num_classes = 10

    def __init__(
        self,
        image_size: int = 32,
        channels: int = 3,
        batch_size: int = 64,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        labels_per_class: int | None = None,
        labeled_fraction: float | None = None,
        train_on: str = "labeled",
        num_workers: int = 0,
        drop_last: bool = False,
    ) -> None:
        super().__init__()
        if train_on not in ("labeled", "all"):
            raise LeydenConfigError(
                f"train_on must be 'labeled' or 'all', got {train_on!r}", "set train_on: all"
            )
        check_count("batch_size", batch_size)
        check_count("num_workers", num_workers, minimum=0)
        check_label_budget(labels_per_class, labeled_fraction)
        for name, share in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
            if not 0.0 < share < 1.0:
                raise LeydenConfigError(f"{name} must be in (0, 1), got {share}", f"e.g. {name}: 0.15")
        if val_fraction + test_fraction >= 1.0:
            raise LeydenConfigError(
                f"val_fraction + test_fraction = {val_fraction + test_fraction} leaves no training data",
                "keep their sum below 1, e.g. 0.15 each",
            )
        self.save_hyperparameters()
        self.image_size = image_size
        self.channels = channels
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.drop_last = drop_last
        self.train_on = train_on
        self._prepared = False

    def setup(self, stage: str | None = None) -> None:
        if self._prepared:
            return
        hp = self.hparams
        images, labels = load_digits_images(hp.image_size, hp.channels)
        indices = np.arange(len(labels))
        held_out = hp.val_fraction + hp.test_fraction
        train_idx, rest_idx = train_test_split(
            indices, test_size=held_out, stratify=labels.numpy(), random_state=hp.seed
        )
        val_idx, test_idx = train_test_split(
            rest_idx,
            test_size=hp.test_fraction / held_out,
            stratify=labels.numpy()[rest_idx],
            random_state=hp.seed,
        )
        keep = labeled_subset(labels.numpy()[train_idx], hp.labels_per_class, hp.labeled_fraction, hp.seed)
        labeled_idx, unlabeled_idx = train_idx[keep], train_idx[~keep]

        self.labeled = TensorDataset(images[labeled_idx], labels[labeled_idx])
        self.unlabeled = TensorDataset(images[unlabeled_idx], torch.full((len(unlabeled_idx),), UNLABELED))
        self.unlabeled_targets = labels[unlabeled_idx]  # true labels, for measuring pseudo-labels only
        self.val = TensorDataset(images[val_idx], labels[val_idx])
        self.test = TensorDataset(images[test_idx], labels[test_idx])
        if self.train_on == "all":
            train_labels = labels[train_idx].clone()
            train_labels[~torch.from_numpy(keep)] = UNLABELED
            self.train = TensorDataset(images[train_idx], train_labels)
        else:
            self.train = self.labeled
        self._prepared = True

    def _loader(self, dataset: TensorDataset, shuffle: bool, drop_last: bool = False) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        check_train_batches(len(self.train), self.batch_size, self.drop_last, world_size)
        return self._loader(self.train, shuffle=True, drop_last=self.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)

    def predict_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)

    def unlabeled_dataloader(self, shuffle: bool = False) -> DataLoader:
        return self._loader(self.unlabeled, shuffle=shuffle)
