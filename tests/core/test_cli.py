"""The ``leyden`` console script end to end: fit, re-run, plugins, bad input."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import leyden_core
from leyden_core.cli import main
from tests.core.cli_runner import TINY, leyden


def test_fit_prints_final_metric_and_rerun_in_same_folder_works(tmp_path):
    for _ in range(2):  # the second run must not fail on the first run's saved config.yaml
        result = leyden("fit", *TINY, "--trainer.max_epochs", "1", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "final metrics (step" in result.stdout and "val/acc=" in result.stdout
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file() and (tmp_path / "config.yaml").is_file()


def test_plugins_lists_exactly_the_installed_plugins(tmp_path):
    result = leyden("plugins", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"leyden-core {leyden_core.__version__}" in result.stdout
    assert "ImageClassifier" in result.stdout and "DigitsDataModule" in result.stdout
    installed = list(entry_points(group="leyden.plugins"))
    if not installed:
        assert "no plugins installed" in result.stdout
    for ep in installed:
        assert f"{ep.dist.name} {ep.dist.version}" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--model", "ImageClasifier", "--data", "DigitsDataModule"], "did you mean ImageClassifier"),
        ([*TINY, "--trainer.max_epoch", "1"], "did you mean '--trainer.max_epochs'"),
        ([*TINY, "--model.lrr", "0.1"], "did you mean 'lr'"),
        ([*TINY, "--model.backbone", "resnet_18"], "did you mean resnet18"),
        ([*TINY, "--data", "DigitsDataModul"], "did you mean DigitsDataModule"),
    ],
    ids=["unknown-model", "misspelt-trainer-key", "misspelt-model-key", "unknown-backbone", "unknown-data"],
)
def test_bad_input_gives_short_error_with_closest_name(tmp_path, monkeypatch, capsys, args, expected):
    # in-process (the console script's own main) to keep the suite fast; exits as the command does
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--trainer.max_epochs", "1"])
    assert exit_info.value.code == 2
    stderr = capsys.readouterr().err
    error = stderr.strip().splitlines()  # (the console-script test below also checks for no traceback)
    assert error[-2].startswith("leyden: error:") and error[-1].startswith("  fix:")
    assert expected in stderr


def test_misspelt_key_in_config_file_through_the_console_script(tmp_path):
    config = tmp_path / "bad.yaml"
    config.write_text("model:\n  class_path: ImageClassifier\n  init_args:\n    backbon: resnet18\n")
    result = leyden("fit", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "unknown option 'backbon'" in result.stderr and "did you mean 'backbone'" in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 4 and "Traceback" not in result.stderr


def test_export_trunk_loads_into_plain_timm(tmp_path):
    import timm
    import torch

    args = [
        "--model",
        "ImageClassifier",
        "--model.backbone",
        "resnet18",
        "--model.small_images",
        "false",
        "--data",
        "DigitsDataModule",
        "--data.image_size",
        "32",
        "--trainer.accelerator",
        "cpu",
        "--trainer.max_steps",
        "2",
        "--trainer.limit_val_batches",
        "1",
    ]
    assert leyden("fit", *args, cwd=tmp_path).returncode == 0
    out = tmp_path / "trunk.pt"
    result = leyden("export", str(tmp_path / "checkpoints" / "last.ckpt"), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    trunk = torch.load(out)
    model = timm.create_model("resnet18", pretrained=False)
    missing, unexpected = model.load_state_dict(trunk, strict=False)
    assert unexpected == []
    assert set(missing) == {"fc.weight", "fc.bias"}  # only the classifier, which the trunk has not
    assert torch.equal(model.conv1.weight, trunk["conv1.weight"])


def test_export_of_missing_checkpoint_is_a_short_error(tmp_path):
    result = leyden("export", str(tmp_path / "nope.ckpt"), "--out", "x.pt", cwd=tmp_path)
    assert result.returncode == 2 and "not found" in result.stderr and "Traceback" not in result.stderr


def test_configured_callbacks_are_added_beside_the_defaults(tmp_path, monkeypatch):
    from lightning.pytorch.callbacks import EarlyStopping

    from leyden_core.callbacks import LastCheckpointOnException, RNGStateCheckpoint, ThroughputMonitor
    from leyden_core.lightning_cli import LeydenCLI

    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.chdir(tmp_path)
    classes = {
        "ImageClassifier": "leyden_core.models.classifier.ImageClassifier",
        "DigitsDataModule": "leyden_core.data.DigitsDataModule",
    }
    args = [classes.get(a, a) for a in TINY] + [
        "--trainer.callbacks",
        "EarlyStopping",
        "--trainer.callbacks.monitor",
        "val/acc",
    ]
    cli = LeydenCLI(args=args, run=False)
    kinds = {type(cb) for cb in cli.trainer.callbacks}
    assert {EarlyStopping, ThroughputMonitor, RNGStateCheckpoint, LastCheckpointOnException} <= kinds
