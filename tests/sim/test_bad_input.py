"""Bad input to the sim plugin's models and DataModules: two lines (problem, fix), exit 2.

In-process runs of the console script's ``main`` (see ``tests/core/cli_runner.py``); each case
checks the exit code, a short stderr without traceback, and that it names the problem.
"""

from __future__ import annotations

import pytest

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
SYN = ["--data", "SynDigitsDataModule", "--data.length", "64", "--data.batch_size", "16"]
DANN = ["--model", "DANN", *SYN, "--data.with_target", "true"]
CLASSIFIER = ["--model", "ImageClassifier", "--model.backbone", "leyden_tiny_cnn"]
SOURCE_ONLY = [*CLASSIFIER, "--model.in_chans", "1", *SYN]

CASES = {
    "dann-negative-lr": ([*DANN, "--model.lr", "-1"], ["lr must be > 0"]),
    "dann-unknown-objective": ([*DANN, "--model.objective", "adversarial"], ["unknown objective 'adversarial'"]),
    "syn-two-channels": ([*DANN, "--data.channels", "2"], ["channels must be 1 or 3"]),
    "syn-image-size-4": ([*DANN, "--data.image_size", "4"], ["image_size must be at least 8"]),
    "syn-zero-batch": ([*DANN, "--data.batch_size", "0"], ["batch_size must be at least 1"]),
    "syn-pen-fraction-above-one": ([*DANN, "--data.pen_fraction", "2"], ["pen_fraction must be in [0, 1]"]),
    "syn-unknown-font": ([*DANN, "--data.fonts", "[comic-sans]"], ["unknown fonts"]),
    "syn-fewer-items-than-a-batch": (
        [*SOURCE_ONLY, "--data.length", "10"],
        ["no training batch", "10 training samples", "batch_size <= 10"],
    ),
    "source-only-in-chans-vs-data": (
        [*CLASSIFIER, "--model.in_chans", "3", *SYN],  # SynDigits are grey by default
        ["1-channel images", "in_chans: 1"],
    ),
    "tobin-zero-length": (
        ["--model", "PositionRegressor", "--data", "TobinLocalizationDataModule", "--data.length", "0"],
        ["length must be at least 1"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(("args", "needles"), list(CASES.values()), ids=list(CASES))
def test_bad_input_is_a_two_line_error(tmp_path, monkeypatch, capsys, args, needles):
    monkeypatch.chdir(tmp_path)
    code, stderr = leyden_in_process([*FIT, *args], monkeypatch, capsys)
    assert_two_line_error(code, stderr, *needles)
