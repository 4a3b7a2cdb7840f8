"""Image DataModules over torchvision's real loaders: CIFAR-10, STL-10 (with its unlabeled split), ImageFolder.

Loaders only decode (PIL → tensor in [0, 1], resized when ``image_size`` is set); random views are
made on the device by the method (:mod:`leyden_selfsup.augment`). Like ``DigitsDataModule``, the
training set can mix labeled and unlabeled samples (label -1, ``train_on="all"``), and
``unlabeled_dataloader()`` serves the unlabeled ones (for Noisy Student). The label budget options
(``labels_per_class``, stratified, or ``labeled_fraction``) mean what they mean for ``DigitsDataModule``.
Nothing is downloaded: a missing or corrupt dataset raises ``LeydenConfigError`` naming the path
searched and how to get the data.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset
from torchvision import datasets, transforms
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader

from leyden_core.checks import check_choice, check_count, check_train_batches
from leyden_core.data.labels import check_label_budget, per_class_subset
from leyden_core.errors import LeydenConfigError

UNLABELED = -1
TRAIN_ON = ("labeled", "all")


def _require(path: Path, what: str, how: str) -> None:
    if not path.exists():
        raise LeydenConfigError(f"{what} not found at {path.resolve()}", how)


def _open(load, path: Path, what: str, how: str) -> Dataset:
    """``load()``, with torchvision's "corrupted ... use download=True" (an option Leyden does not have,
    since nothing is downloaded) replaced by what was searched and how to get the data."""
    try:
        return load()
    except (RuntimeError, OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        cause = (str(err).splitlines() or [type(err).__name__])[0][:80]
        if "download=True" in cause:
            cause = "its files fail torchvision's size and checksum check"
        raise LeydenConfigError(
            f"{what} at {path.resolve()} is incomplete or corrupted: {cause}",
            f"{how} (replacing what is there)",
        ) from err


def _targets(dataset: Dataset) -> np.ndarray:
    """Class labels of a torchvision dataset without decoding its images."""
    labels = getattr(dataset, "targets", None)
    return np.asarray(labels if labels is not None else dataset.labels)


class _WithheldLabels(Dataset):
    """``dataset`` with every label replaced by -1 (an unlabeled view of a labeled dataset)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.dataset[index][0], UNLABELED


class UnlabeledImageFolder(Dataset):
    """Every image file under ``root`` (any depth), decoded with torchvision's loader, label -1."""

    def __init__(self, root: str | Path, transform: transforms.Compose) -> None:
        self.files = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMG_EXTENSIONS)
        if not self.files:
            raise LeydenConfigError(
                f"no images under {root}", f"put image files ({', '.join(IMG_EXTENSIONS)}) there"
            )
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.transform(default_loader(str(self.files[index]))), UNLABELED


class _ImageDataModule(pl.LightningDataModule):
    """Shared loaders. Subclasses set ``labeled``, ``unlabeled`` and ``val`` datasets in ``setup``."""

    num_classes = 10
    channels = 3  # torchvision decodes to RGB
    native_size: int | None = None  # image side when image_size is not set

    def __init__(
        self,
        data_dir: str,
        image_size: int | None = None,
        batch_size: int = 256,
        num_workers: int = 4,
        labeled_fraction: float | None = None,
        train_on: str = "labeled",
        seed: int = 0,
        drop_last: bool = True,
        labels_per_class: int | None = None,
    ) -> None:
        super().__init__()
        check_choice("train_on", train_on, TRAIN_ON)
        check_label_budget(labels_per_class, labeled_fraction)
        check_count("batch_size", batch_size)
        check_count("num_workers", num_workers, minimum=0)
        if image_size is not None:
            check_count("image_size", image_size, minimum=8)
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        self.image_size = image_size or self.native_size
        steps = [transforms.Resize((image_size, image_size))] if image_size else []
        self.transform = transforms.Compose([*steps, transforms.ToTensor()])

    def split_labels(self, dataset: Dataset) -> tuple[Dataset, Dataset]:
        """Keep the labels of ``labels_per_class`` samples of each class, or of a random
        ``labeled_fraction`` of ``dataset`` (fixed by ``seed``); the rest become unlabeled."""
        fraction, per_class = self.hparams.labeled_fraction, self.hparams.labels_per_class
        if per_class is not None:
            keep = per_class_subset(_targets(dataset), per_class, self.hparams.seed)
            labeled, withheld = np.flatnonzero(keep).tolist(), np.flatnonzero(~keep).tolist()
            return Subset(dataset, labeled), _WithheldLabels(Subset(dataset, withheld))
        if fraction is None:
            return dataset, Subset(dataset, [])
        order = torch.randperm(
            len(dataset), generator=torch.Generator().manual_seed(self.hparams.seed)
        ).tolist()
        keep = max(1, round(fraction * len(dataset)))
        return Subset(dataset, order[:keep]), _WithheldLabels(Subset(dataset, order[keep:]))

    @property
    def train(self) -> Dataset:
        if self.hparams.train_on == "labeled" or len(self.unlabeled) == 0:
            return self.labeled
        return ConcatDataset([self.labeled, self.unlabeled])

    def _loader(self, dataset: Dataset, shuffle: bool, drop_last: bool = False) -> DataLoader:
        workers = self.hparams.num_workers
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            drop_last=drop_last,
            num_workers=workers,
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        check_train_batches(len(self.train), self.hparams.batch_size, self.hparams.drop_last, world_size)
        return self._loader(self.train, shuffle=True, drop_last=self.hparams.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def unlabeled_dataloader(self, shuffle: bool = False) -> DataLoader:
        return self._loader(self.unlabeled, shuffle=shuffle)


class CIFAR10DataModule(_ImageDataModule):
    """CIFAR-10 from ``<data_dir>/cifar-10-batches-py`` (the python version); val = the test batch."""

    native_size = 32

    def setup(self, stage: str | None = None) -> None:
        folder, what = self.data_dir / "cifar-10-batches-py", "CIFAR-10 (python version)"
        how = f"download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it into {self.data_dir.resolve()}"
        _require(folder, what, how)
        root = str(self.data_dir)
        train = _open(lambda: datasets.CIFAR10(root, train=True, transform=self.transform), folder, what, how)
        self.labeled, self.unlabeled = self.split_labels(train)
        self.val = _open(
            lambda: datasets.CIFAR10(root, train=False, transform=self.transform), folder, what, how
        )


class STL10DataModule(_ImageDataModule):
    """STL-10 from ``<data_dir>/stl10_binary``: 5k labeled train, 100k unlabeled, 8k test (= val)."""

    native_size = 96

    def setup(self, stage: str | None = None) -> None:
        folder, what = self.data_dir / "stl10_binary", "STL-10 (binary version)"
        how = f"download http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz and extract it into {self.data_dir.resolve()}"
        _require(folder, what, how)
        root = str(self.data_dir)

        def split(name: str) -> Dataset:
            return _open(
                lambda: datasets.STL10(root, split=name, transform=self.transform), folder, what, how
            )

        labeled, withheld = self.split_labels(split("train"))
        self.labeled = labeled
        unlabeled = split("unlabeled")  # labels are -1 already
        self.unlabeled = ConcatDataset([withheld, unlabeled]) if len(withheld) else unlabeled
        self.val = split("test")


class ImageFolderDataModule(_ImageDataModule):
    """Your own images: ``train_dir`` and ``val_dir`` in ImageFolder layout (one folder per class),
    and optionally ``unlabeled_dir`` with images at any depth. Set ``image_size`` (images are resized)."""

    def __init__(
        self, train_dir: str, val_dir: str, unlabeled_dir: str | None = None, image_size: int = 64, **kwargs
    ) -> None:
        super().__init__(data_dir=train_dir, image_size=image_size, **kwargs)
        self.dirs = {"train_dir": Path(train_dir), "val_dir": Path(val_dir)}
        if unlabeled_dir is not None:
            self.dirs["unlabeled_dir"] = Path(unlabeled_dir)

    def setup(self, stage: str | None = None) -> None:
        how = "point it at a folder of images (class subfolders for train/val)"
        for name, path in self.dirs.items():
            _require(path, f"image folder {name}", how)

        def folder(name: str) -> datasets.ImageFolder:
            path = self.dirs[name]
            return _open(
                lambda: datasets.ImageFolder(str(path), self.transform), path, f"image folder {name}", how
            )

        train = folder("train_dir")
        self.num_classes = len(train.classes)
        self.labeled, withheld = self.split_labels(train)
        parts = [withheld] if len(withheld) else []
        if "unlabeled_dir" in self.dirs:
            parts.append(UnlabeledImageFolder(self.dirs["unlabeled_dir"], self.transform))
        self.unlabeled = ConcatDataset(parts) if parts else Subset(train, [])
        self.val = folder("val_dir")
