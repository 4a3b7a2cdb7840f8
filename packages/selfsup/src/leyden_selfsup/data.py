"""Image DataModules over torchvision's real loaders: CIFAR-10, STL-10 (with its unlabeled split), ImageFolder.

Loaders only decode (PIL → tensor in [0, 1], resized when ``image_size`` is set); random views are
made on the device by the method (:mod:`leyden_selfsup.augment`). Like ``DigitsDataModule``, the
training set can mix labeled and unlabeled samples (label -1, ``train_on="all"``), and
``unlabeled_dataloader()`` serves the unlabeled ones (for Noisy Student). Nothing is downloaded:
a missing dataset raises ``LeydenConfigError`` naming the path searched and how to get the data.
"""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, Subset
from torchvision import datasets, transforms
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader

from leyden_core.errors import LeydenConfigError

UNLABELED = -1
TRAIN_ON = ("labeled", "all")


def _require(path: Path, what: str, how: str) -> None:
    if not path.exists():
        raise LeydenConfigError(f"{what} not found at {path.resolve()}", how)


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
    ) -> None:
        super().__init__()
        if train_on not in TRAIN_ON:
            raise LeydenConfigError(
                f"train_on must be one of {TRAIN_ON}, got {train_on!r}", "set train_on: all"
            )
        if labeled_fraction is not None and not 0.0 < labeled_fraction <= 1.0:
            raise LeydenConfigError(f"labeled_fraction must be in (0, 1], got {labeled_fraction}", "e.g. 0.1")
        self.save_hyperparameters()
        self.data_dir = Path(data_dir)
        steps = [transforms.Resize((image_size, image_size))] if image_size else []
        self.transform = transforms.Compose([*steps, transforms.ToTensor()])

    def split_labels(self, dataset: Dataset) -> tuple[Dataset, Dataset]:
        """Keep the labels of a random ``labeled_fraction`` of ``dataset`` (fixed by ``seed``)."""
        fraction = self.hparams.labeled_fraction
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
        return self._loader(self.train, shuffle=True, drop_last=self.hparams.drop_last)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def unlabeled_dataloader(self, shuffle: bool = False) -> DataLoader:
        return self._loader(self.unlabeled, shuffle=shuffle)


class CIFAR10DataModule(_ImageDataModule):
    """CIFAR-10 from ``<data_dir>/cifar-10-batches-py`` (the python version); val = the test batch."""

    def setup(self, stage: str | None = None) -> None:
        _require(
            self.data_dir / "cifar-10-batches-py",
            "CIFAR-10 (python version)",
            f"download https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz and extract it into {self.data_dir}",
        )
        train = datasets.CIFAR10(str(self.data_dir), train=True, transform=self.transform)
        self.labeled, self.unlabeled = self.split_labels(train)
        self.val = datasets.CIFAR10(str(self.data_dir), train=False, transform=self.transform)


class STL10DataModule(_ImageDataModule):
    """STL-10 from ``<data_dir>/stl10_binary``: 5k labeled train, 100k unlabeled, 8k test (= val)."""

    def setup(self, stage: str | None = None) -> None:
        _require(
            self.data_dir / "stl10_binary",
            "STL-10 (binary version)",
            f"download http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz and extract it into {self.data_dir}",
        )
        root = str(self.data_dir)
        labeled, withheld = self.split_labels(datasets.STL10(root, split="train", transform=self.transform))
        self.labeled = labeled
        unlabeled = datasets.STL10(root, split="unlabeled", transform=self.transform)  # labels are -1 already
        self.unlabeled = ConcatDataset([withheld, unlabeled]) if len(withheld) else unlabeled
        self.val = datasets.STL10(root, split="test", transform=self.transform)


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
        for name, path in self.dirs.items():
            _require(
                path,
                f"image folder {name}",
                "point it at a folder of images (class subfolders for train/val)",
            )
        labeled, withheld = self.split_labels(
            datasets.ImageFolder(str(self.dirs["train_dir"]), self.transform)
        )
        self.labeled = labeled
        self.num_classes = len(datasets.ImageFolder(str(self.dirs["train_dir"])).classes)
        parts = [withheld] if len(withheld) else []
        if "unlabeled_dir" in self.dirs:
            parts.append(UnlabeledImageFolder(self.dirs["unlabeled_dir"], self.transform))
        self.unlabeled = ConcatDataset(parts) if parts else Subset(labeled, [])
        self.val = datasets.ImageFolder(str(self.dirs["val_dir"]), self.transform)
