"""Labeled and unlabeled batches side by side, for semi-supervised methods that need both at every step.

:class:`LabeledUnlabeledDataModule` wraps any datamodule with a ``labeled`` and an ``unlabeled``
dataset after ``setup`` (``DigitsDataModule(labeled_fraction=...)``, :class:`CIFAR10DataModule`,
:class:`STL10DataModule`, :class:`ImageFolderDataModule`). Each training batch is
``{"labeled": (images, labels), "unlabeled": (images, _)}`` with ``batch_size`` labeled and
``unlabeled_ratio × batch_size`` unlabeled images, FixMatch's B and μ. The unlabeled stream is every
training image, labeled ones included, as in the paper. An epoch is one pass over the unlabeled
stream; the few labeled samples cycle. Under DDP Lightning gives each stream its own
``DistributedSampler``, so ranks see disjoint shares of both.
"""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from leyden_core.checks import check_count, check_train_batches
from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import CORE_PLUGIN, import_object, load_plugins


def datamodule_class(name: str) -> type[pl.LightningDataModule]:
    """An installed plugin's datamodule by short name (``DigitsDataModule``), or any by import path."""
    if "." in name:
        return import_object(name)
    paths = [*CORE_PLUGIN.datamodules, *(p for lp in load_plugins() for p in lp.plugin.datamodules)]
    for path in paths:
        if path.rpartition(".")[2] == name:
            return import_object(path)
    names = ", ".join(sorted({p.rpartition(".")[2] for p in paths}))
    raise LeydenConfigError(f"unknown datamodule {name!r}", f"use one of {names}, or an import path")


class LabeledUnlabeledDataModule(pl.LightningDataModule):
    """Another datamodule's labeled and unlabeled training sets as joint batches; its validation and
    test sets as they are.

    Args:
        datamodule: the wrapped datamodule's name (``DigitsDataModule``, ``CIFAR10DataModule``, an
            import path) or, from Python, an instance. It must have ``labeled`` and ``unlabeled``
            datasets after ``setup`` (set its label budget: ``labeled_fraction``, ``labels_per_class``).
        datamodule_args: the wrapped datamodule's arguments when it is given by name (its own
            ``batch_size`` is ignored for training). It is made on first use, not inside this
            constructor: Lightning's CLI would hand a datamodule made inside another datamodule's
            constructor the outer one's hyperparameters.
        batch_size: labeled images per batch (B = 64 in FixMatch).
        unlabeled_ratio: μ, unlabeled images per labeled one in a batch (7 in FixMatch).
        num_workers: loader processes per stream.
    """

    def __init__(
        self,
        datamodule: str | pl.LightningDataModule = "DigitsDataModule",
        datamodule_args: dict[str, Any] | None = None,
        batch_size: int = 64,
        unlabeled_ratio: int = 7,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_count("batch_size", batch_size)
        check_count("unlabeled_ratio", unlabeled_ratio)
        check_count("num_workers", num_workers, minimum=0)
        self._datamodule = None if isinstance(datamodule, str) else datamodule
        inherited = getattr(self._datamodule, "hparams", {}).get("_class_path", "")
        if inherited and inherited.rpartition(".")[2] != type(self._datamodule).__name__:
            raise LeydenConfigError(
                "a datamodule written with class_path inside another datamodule's config gets the outer "
                "one's settings from Lightning's CLI",
                "write datamodule: DigitsDataModule and its settings under datamodule_args",
            )
        self._recipe = (
            (datamodule_class(datamodule), datamodule_args or {}) if self._datamodule is None else None
        )
        self.batch_size, self.unlabeled_ratio, self.num_workers = batch_size, unlabeled_ratio, num_workers

    @property
    def datamodule(self) -> pl.LightningDataModule:
        if self._datamodule is None:
            cls, args = self._recipe
            self._datamodule = cls(**args)
        return self._datamodule

    # what the model checks against (check_data_fits): the wrapped data's declarations
    @property
    def channels(self) -> int | None:
        return getattr(self.datamodule, "channels", None)

    @property
    def image_size(self) -> int | None:
        return getattr(self.datamodule, "image_size", None)

    @property
    def num_classes(self) -> int | None:
        return getattr(self.datamodule, "num_classes", None)

    def prepare_data(self) -> None:
        self.datamodule.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        self.datamodule.trainer = self.trainer
        self.datamodule.setup(stage)
        if not (hasattr(self.datamodule, "labeled") and hasattr(self.datamodule, "unlabeled")):
            raise LeydenConfigError(
                f"{type(self.datamodule).__name__} has no labeled and unlabeled datasets",
                "wrap DigitsDataModule (with labeled_fraction), CIFAR10DataModule or STL10DataModule",
            )

    @property
    def labeled(self) -> Dataset:
        return self.datamodule.labeled

    @property
    def unlabeled(self) -> Dataset:
        """Every training image: the labeled ones (labels unused) and the unlabeled ones."""
        return ConcatDataset([self.datamodule.labeled, self.datamodule.unlabeled])

    def _loader(self, dataset: Dataset, batch_size: int) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        check_train_batches(len(dataset), batch_size, True, world_size)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> CombinedLoader:
        loaders = {
            "labeled": self._loader(self.labeled, self.batch_size),
            "unlabeled": self._loader(self.unlabeled, self.unlabeled_ratio * self.batch_size),
        }
        return CombinedLoader(loaders, mode="max_size_cycle")

    def val_dataloader(self) -> DataLoader:
        return self.datamodule.val_dataloader()

    def test_dataloader(self) -> DataLoader:
        return self.datamodule.test_dataloader()
