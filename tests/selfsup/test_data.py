"""DataModules over torchvision's real loaders, fed tiny files written in each real on-disk format.

The files are genuine CIFAR-10 python pickles, STL-10 binaries and PNG folders; only torchvision's
MD5 checks (which pin the official archives) are switched off for the generated files.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision.datasets.cifar
from PIL import Image
from torchvision import datasets

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.data import CIFAR10DataModule, ImageFolderDataModule, STL10DataModule


@pytest.fixture
def no_md5(monkeypatch) -> None:
    monkeypatch.setattr(datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *args, **kwargs: True)
    monkeypatch.setattr(datasets.STL10, "_check_integrity", lambda self: True)


def _write_cifar10(root, per_batch: int = 4) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            "data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            "labels": rng.integers(0, 10, per_batch).tolist(),
        }
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))


def _write_stl10(root, labeled: int = 6, unlabeled: int = 5) -> None:
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", labeled), ("test", 4), ("unlabeled", unlabeled)):
        rng.integers(0, 256, (count, 3, 96, 96), dtype=np.uint8).tofile(folder / f"{split}_X.bin")
        if split != "unlabeled":
            rng.integers(1, 11, count, dtype=np.uint8).tofile(folder / f"{split}_y.bin")  # labels are 1-based
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))


def test_cifar10_reads_python_batches_and_withholds_labels(tmp_path, no_md5) -> None:
    _write_cifar10(tmp_path)
    dm = CIFAR10DataModule(str(tmp_path), batch_size=8, num_workers=0, labeled_fraction=0.25, train_on="all")
    dm.setup()
    assert len(dm.labeled) == 5 and len(dm.unlabeled) == 15 and len(dm.val) == 4
    images, labels = next(iter(dm.train_dataloader()))
    assert (
        images.shape == (8, 3, 32, 32)
        and images.dtype == torch.float32
        and 0 <= images.min() <= images.max() <= 1
    )
    assert (labels == -1).any()
    assert next(iter(dm.unlabeled_dataloader()))[1].eq(-1).all()


def test_stl10_reads_binaries_with_the_unlabeled_split(tmp_path, no_md5) -> None:
    _write_stl10(tmp_path)
    dm = STL10DataModule(
        str(tmp_path), image_size=32, batch_size=4, num_workers=0, train_on="all", drop_last=False
    )
    dm.setup()
    assert len(dm.labeled) == 6 and len(dm.unlabeled) == 5 and len(dm.val) == 4
    images, labels = next(iter(dm.val_dataloader()))
    assert images.shape == (4, 3, 32, 32) and labels.min() >= 0 and labels.max() <= 9
    all_labels = torch.cat([batch[1] for batch in dm.train_dataloader()])
    assert (all_labels == -1).sum() == 5 and len(all_labels) == 11


def test_image_folders_labeled_and_unlabeled(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 3), ("val", 2)):
        for cls in ("cat", "dog"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(
                    tmp_path / split / cls / f"{i}.png"
                )
    (tmp_path / "unlabeled" / "any").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (25, 25, 3), dtype=np.uint8)).save(
            tmp_path / "unlabeled" / "any" / f"{i}.jpg"
        )
    dm = ImageFolderDataModule(
        str(tmp_path / "train"),
        str(tmp_path / "val"),
        str(tmp_path / "unlabeled"),
        image_size=16,
        batch_size=16,
        num_workers=0,
        train_on="all",
        drop_last=False,
    )
    dm.setup()
    assert dm.num_classes == 2 and len(dm.labeled) == 6 and len(dm.unlabeled) == 4
    images, labels = next(iter(dm.train_dataloader()))
    assert images.shape == (10, 3, 16, 16) and (labels == -1).sum() == 4


@pytest.mark.parametrize(
    "make, needle",
    [
        (lambda p: CIFAR10DataModule(str(p)), "cifar-10-python.tar.gz"),
        (lambda p: STL10DataModule(str(p)), "stl10_binary.tar.gz"),
        (lambda p: ImageFolderDataModule(str(p / "train"), str(p / "val")), "folder of images"),
    ],
)
def test_missing_dataset_names_the_path_and_how_to_get_it(tmp_path, make, needle: str) -> None:
    with pytest.raises(LeydenConfigError) as error:
        make(tmp_path).setup()
    assert str(tmp_path) in error.value.problem and needle in error.value.fix


def test_image_folder_takes_the_digits_label_budget_options(tmp_path) -> None:
    rng = np.random.default_rng(0)
    for split, count in (("train", 4), ("val", 1)):
        for cls in ("cat", "dog", "owl"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(count):
                Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
                    tmp_path / split / cls / f"{i}.png"
                )
    dm = ImageFolderDataModule(
        str(tmp_path / "train"), str(tmp_path / "val"), image_size=8, batch_size=4, num_workers=0,
        labels_per_class=2, train_on="all",
    )  # fmt: skip
    dm.setup()
    labels = sorted(int(dm.labeled[i][1]) for i in range(len(dm.labeled)))
    assert labels == [0, 0, 1, 1, 2, 2] and len(dm.unlabeled) == 6  # stratified: 2 of each class
    assert all(dm.unlabeled[i][1] == -1 for i in range(len(dm.unlabeled)))
    with pytest.raises(LeydenConfigError, match="only 4 samples"):
        ImageFolderDataModule(str(tmp_path / "train"), str(tmp_path / "val"), labels_per_class=5).setup()


def test_corrupt_cifar10_names_the_archive_not_download_true(tmp_path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"\x80\x04truncated")
    with pytest.raises(LeydenConfigError) as error:
        CIFAR10DataModule(str(tmp_path)).setup()
    assert "corrupted" in error.value.problem and str(folder) in error.value.problem
    assert "cifar-10-python.tar.gz" in error.value.fix and "download=True" not in str(error.value)
