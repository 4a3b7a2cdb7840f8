"""Bad input to the self-supervised methods and image DataModules: two lines (problem, fix), exit 2.

In-process runs of the console script's ``main`` (see ``tests/core/cli_runner.py``); each case
checks the exit code, a short stderr without traceback, and that it names the problem.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from PIL import Image

from tests.core.cli_runner import assert_two_line_error, leyden_in_process

FIT = [
    "fit",
    "--trainer.max_epochs",
    "1",
    "--trainer.logger",
    "false",
    "--trainer.enable_progress_bar",
    "false",
]
DIGITS = ["--data", "DigitsDataModule", "--data.image_size", "16", "--data.train_on", "all"]
SIMCLR = ["--model", "SimCLR", "--model.backbone", "leyden_tiny_cnn", "--model.image_size", "16", *DIGITS]
MOCO = ["--model", "MoCoV2", "--model.backbone", "leyden_tiny_cnn", "--model.image_size", "16", *DIGITS]

CASES = {
    "augment-typo": (
        [*SIMCLR, "--model.augment", "{flip_pp: 0.5}"],
        ["unknown augment option 'flip_pp'", "'flip_p'"],
    ),
    "augment-probability-above-one": (
        [*SIMCLR, "--model.augment", "{flip_p: 2}"],
        ["flip_p must be in [0, 1]"],
    ),
    "augment-bad-crop": ([*SIMCLR, "--model.augment", "{crop_scale: [0.9, 0.2]}"], ["crop_scale"]),
    "negative-lr": ([*SIMCLR, "--model.lr", "-0.1"], ["lr must be > 0"]),
    "lr-not-a-number": ([*SIMCLR, "--model.lr", "fast"], ["'lr' expects a float", "'fast'"]),
    "zero-temperature": ([*SIMCLR, "--model.temperature", "0"], ["temperature must be > 0"]),
    "negative-knn-temperature": ([*SIMCLR, "--model.knn_temperature", "-1"], ["knn_temperature must be > 0"]),
    "zero-knn-k": ([*SIMCLR, "--model.knn_k", "0"], ["knn_k must be at least 1"]),
    "unknown-optimizer": ([*SIMCLR, "--model.optimizer", "adam"], ["unknown optimizer 'adam'", "adamw"]),
    "in-chans-vs-data": ([*SIMCLR, "--model.in_chans", "1"], ["3-channel images", "in_chans: 3"]),
    "vit-at-16px": (
        [*SIMCLR, "--model.backbone", "vit_tiny_patch16_224", "--model.small_images", "false"],
        ["takes 224×224", "img_size: 16"],
    ),
    "moco-empty-queue": ([*MOCO, "--model.queue_size", "0"], ["queue_size must be at least 1"]),
    "moco-momentum-above-one": (
        [*MOCO, "--model.encoder_momentum", "1.5"],
        ["encoder_momentum must be in [0, 1]"],
    ),
    "moco-batchnorm-mode": ([*MOCO, "--model.batchnorm", "shuffled"], ["unknown batchnorm 'shuffled'"]),
}


@pytest.mark.parametrize(("args", "needles"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_a_two_line_error(tmp_path, monkeypatch, capsys, args, needles):
    monkeypatch.chdir(tmp_path)
    code, stderr = leyden_in_process([*FIT, *args], monkeypatch, capsys)
    assert_two_line_error(code, stderr, *needles)


def _image_folders(root, per_class: int) -> None:
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for cls in ("cat", "dog"):
            (root / split / cls).mkdir(parents=True)
            for i in range(per_class):
                Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(
                    root / split / cls / f"{i}.png"
                )


def _corrupt_cifar(root) -> None:
    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    for name in ["data_batch_1", "test_batch", "batches.meta"]:
        (folder / name).write_bytes(pickle.dumps({"data": "truncated"})[:7])


DATA_CASES = {
    # torchvision's own message says "use download=True"; Leyden has no download and says what to fetch
    "corrupt-cifar10": (_corrupt_cifar, ["--data", "CIFAR10DataModule", "--data.data_dir", "."],
                        ["corrupted", "cifar-10-batches-py", "cifar-10-python.tar.gz"]),
    "missing-stl10": (None, ["--data", "STL10DataModule", "--data.data_dir", "."], ["not found", "stl10_binary.tar.gz"]),
    "missing-image-folder": (None, ["--data", "ImageFolderDataModule", "--data.train_dir", "nope",
                                    "--data.val_dir", "nope"], ["image folder train_dir not found"]),
    "image-folder-labels-per-class-too-many": (
        lambda root: _image_folders(root, 3),
        ["--data", "ImageFolderDataModule", "--data.train_dir", "train", "--data.val_dir", "val",
         "--data.image_size", "16", "--data.labels_per_class", "5"],
        ["labels_per_class=5", "only 3 samples", "labels_per_class <= 3"],
    ),
    "image-folder-batch-larger-than-data": (
        lambda root: _image_folders(root, 3),
        ["--data", "ImageFolderDataModule", "--data.train_dir", "train", "--data.val_dir", "val",
         "--data.image_size", "16", "--data.batch_size", "64"],
        ["no training batch", "6 training samples", "drop_last: false"],
    ),
    "image-folder-two-label-budgets": (
        lambda root: _image_folders(root, 3),
        ["--data", "ImageFolderDataModule", "--data.train_dir", "train", "--data.val_dir", "val",
         "--data.labels_per_class", "1", "--data.labeled_fraction", "0.5"],
        ["both set"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("prepare", "data_args", "needles"), list(DATA_CASES.values()), ids=list(DATA_CASES))
def test_bad_data_is_a_two_line_error(tmp_path, monkeypatch, capsys, prepare, data_args, needles):
    monkeypatch.chdir(tmp_path)
    if prepare is not None:
        prepare(tmp_path)
    model = ["--model", "SimCLR", "--model.backbone", "leyden_tiny_cnn", "--model.image_size", "16"]
    code, stderr = leyden_in_process(
        [*FIT, *model, *data_args, "--data.num_workers", "0"], monkeypatch, capsys
    )
    assert_two_line_error(code, stderr, *needles)
    assert "download=True" not in stderr
