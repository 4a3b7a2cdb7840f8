"""Every bad input to core's model and data is two lines (problem, fix) and exit code 2, before training.

Each case runs the console script's ``main`` in-process (no new interpreter) and checks the exit
code, that stderr is short with no traceback or Namespace dump, and that it names the problem.
"""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import LightningDataModule
from torch.utils.data import DataLoader, TensorDataset

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
TINY = ["--model", "ImageClassifier", "--model.backbone", "leyden_tiny_cnn", "--data", "DigitsDataModule"]
TINY8 = [*TINY, "--data.image_size", "8"]
VIT = ["--model", "ImageClassifier", "--model.backbone", "vit_tiny_patch16_224", "--data", "DigitsDataModule"]

CASES = {
    # types and ranges of model options
    "negative-lr": ([*TINY8, "--model.lr", "-1"], ["lr must be > 0", "lr: 0.001"]),
    "lr-not-a-number": ([*TINY8, "--model.lr", "fast"], ["'lr' expects a float", "'fast'", "lr: 0.001"]),
    "negative-weight-decay": ([*TINY8, "--model.weight_decay", "-0.1"], ["weight_decay must be >= 0"]),
    "drop-rate-above-one": ([*TINY8, "--model.drop_rate", "1.5"], ["drop_rate must be in [0, 1)"]),
    "one-class": ([*TINY8, "--model.num_classes", "1"], ["num_classes must be at least 2"]),
    "bool-not-a-bool": ([*TINY8, "--model.small_images", "maybe"], ["small_images", "expects a bool"]),
    # backbones: names, arguments, channels, sizes
    "unknown-backbone": ([*TINY8, "--model.backbone", "resnet_18"], ["unknown backbone", "resnet18"]),
    "bad-backbone-kwarg": (
        [*TINY8, "--model.backbone", "resnet18", "--model.backbone_kwargs", "{colour: 3}"],
        ["colour", "backbone_kwargs"],
    ),
    "zero-in-chans": ([*TINY8, "--model.in_chans", "0"], ["in_chans must be at least 1"]),
    "in-chans-vs-data": ([*TINY8, "--model.in_chans", "1"], ["3-channel images", "in_chans: 3"]),
    "classes-vs-data": ([*TINY8, "--model.num_classes", "5"], ["10 classes", "num_classes: 10"]),
    "vit-at-32px": ([*VIT, "--model.small_images", "false"], ["takes 224×224", "img_size: 32"]),
    "vit-small-images": ([*VIT, "--model.small_images", "true"], ["small_images does not apply", "img_size"]),
    "too-small-for-stride": (
        [
            *TINY8,
            "--model.backbone",
            "vit_tiny_patch16_224",
            "--model.small_images",
            "false",
            "--model.backbone_kwargs",
            "{img_size: 8}",
        ],
        ["cannot take 3×8×8", "patch_size: 4"],
    ),  # fmt: skip
    # data: sizes, label budgets, splits
    "batch-larger-than-data": (
        [*TINY8, "--data.batch_size", "5000", "--data.drop_last", "true"],
        ["no training batch"],
    ),
    "zero-batch-size": ([*TINY8, "--data.batch_size", "0"], ["batch_size must be at least 1"]),
    "labels-per-class-too-many": (
        [*TINY8, "--data.labels_per_class", "500"],
        ["labels_per_class=500", "<= 1"],
    ),
    "labels-per-class-zero": (
        [*TINY8, "--data.labels_per_class", "0"],
        ["labels_per_class must be at least 1"],
    ),
    "two-label-budgets": (
        [*TINY8, "--data.labels_per_class", "5", "--data.labeled_fraction", "0.1"],
        ["both set"],
    ),
    "labeled-fraction-above-one": (
        [*TINY8, "--data.labeled_fraction", "1.5"],
        ["labeled_fraction must be in (0, 1]"],
    ),
    "no-training-split": (
        [*TINY8, "--data.val_fraction", "0.5", "--data.test_fraction", "0.5"],
        ["leaves no training"],
    ),
    "two-channels": ([*TINY8, "--data.channels", "2"], ["channels must be 1 or 3"]),
    "image-size-4": ([*TINY, "--data.image_size", "4"], ["image_size must be at least 8"]),
    "train-on-typo": ([*TINY8, "--data.train_on", "everything"], ["train_on", "all"]),
    # names and paths
    "unknown-model": (
        ["--model", "ImageClasifier", "--data", "DigitsDataModule"],
        ["did you mean ImageClassifier"],
    ),
    "misspelt-data-key": ([*TINY8, "--data.batchsize", "4"], ["did you mean 'batch_size'"]),
    "option-of-another-class": (
        [*TINY8, "--data.backbone", "resnet18"],
        ["'backbone' for the chosen class", "--help"],
    ),
}


@pytest.mark.parametrize(("args", "needles"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_a_two_line_error(tmp_path, monkeypatch, capsys, args, needles):
    monkeypatch.chdir(tmp_path)
    code, stderr = leyden_in_process([*FIT, *args], monkeypatch, capsys)
    assert_two_line_error(code, stderr, *needles)


def test_wrong_type_in_a_config_file_keeps_the_cause(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "model:\n  class_path: ImageClassifier\n  init_args:\n    backbone: leyden_tiny_cnn\n    lr: fast\n"
        "data:\n  class_path: DigitsDataModule\n  init_args: {image_size: 8}\n"
    )
    code, stderr = leyden_in_process([*FIT, "--config", "bad.yaml"], monkeypatch, capsys)
    assert_two_line_error(code, stderr, "'lr' expects a float", "'fast'")


def test_model_help_shows_only_that_models_options(monkeypatch, capsys):
    monkeypatch.setattr("sys.argv", ["leyden", "fit", "--model", "ImageClassifier", "--help"])
    from leyden_core.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--model", "ImageClassifier", "--help"])
    out = capsys.readouterr().out
    assert exit_info.value.code == 0
    assert "--model.backbone" in out and "--model.backbone_kwargs" in out
    assert "--trainer." not in out and len(out.splitlines()) < 80


def test_an_error_inside_a_constructor_keeps_its_cause_and_drops_the_namespace_dump():
    from leyden_core.cli_errors import short_parser_error

    wrapped = (  # what jsonargparse raises when a constructor fails with a plain exception
        "Does not validate against any of the Union subtypes\n"
        "Subtypes: [<class 'lightning.pytorch.core.module.LightningModule'>, <class 'NoneType'>]\n"
        "Errors:\n"
        "  - 'NoneType' object is not iterable\n"
        "  - Expected a <class 'NoneType'>\n"
        "Given value type: <class 'jsonargparse._namespace.Namespace'>\n"
        "Given value: Namespace(class_path='leyden_core.models.ImageClassifier', init_args=Namespace(lr=0.1))"
    )
    lines = short_parser_error(wrapped, None).splitlines()
    assert lines == [
        "leyden: error: ImageClassifier could not be created: 'NoneType' object is not iterable",
        "  fix: see `leyden fit --model NAME --help` for the options it takes",
    ]


@pytest.mark.parametrize(
    ("content", "needle"),
    [(None, "not found"), (b"\x80\x02truncated", "truncated or corrupt")],
    ids=["missing", "truncated"],
)
def test_unusable_checkpoint_is_a_two_line_error(tmp_path, monkeypatch, capsys, content, needle):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        (tmp_path / "run.ckpt").write_bytes(content)
    code, stderr = leyden_in_process([*FIT, *TINY8, "--ckpt_path", "run.ckpt"], monkeypatch, capsys)
    assert_two_line_error(code, stderr, "run.ckpt", needle)


class EmptyDataModule(LightningDataModule):
    """A user's DataModule whose training set came out empty (a wrong filter, an empty folder)."""

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0, dtype=torch.long)), batch_size=4
        )


def test_a_user_datamodule_with_no_training_batches_is_an_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    model = ["--model", "ImageClassifier", "--model.backbone", "leyden_tiny_cnn", "--model.in_chans", "1"]
    data = ["--data", f"{__name__}.EmptyDataModule"]
    code, stderr = leyden_in_process([*FIT, *model, *data], monkeypatch, capsys)
    assert_two_line_error(code, stderr, "yielded no batches", "batch_size")
