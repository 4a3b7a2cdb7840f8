"""Checkpoints that cannot lie: atomic writes, ``last.ckpt`` every epoch, checked resumes, bad ``--ckpt_path``.

The resume rule under test (the same for ``--ckpt_path last`` and an explicit file): the configured
model runs, with the checkpoint's weights, optimizer and loop state; a checkpoint of another class is
refused with two lines naming both classes; configured values that differ from the checkpoint's are
used (learning rate included) and listed in one notice.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from leyden_core.checkpointing import TEMP_SUFFIX, AtomicCheckpointIO, atomic_torch_save
from leyden_core.cli import main
from leyden_core.models import ImageClassifier
from tests.core.cli_runner import TINY, leyden

REPO = Path(__file__).resolve().parents[2]
PROBE_ENV = {"PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
ARGS = [*TINY, "--seed_everything", "7"]


class OtherClassifier(ImageClassifier):
    """Another LightningModule class with the very same weights: only the class tells them apart."""


class KillAtEpochStart(pl.Callback):
    """SIGKILL this process (no handler runs, nothing is flushed) when epoch ``epoch`` starts."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            os.kill(os.getpid(), signal.SIGKILL)


def _load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def _two_line_error(result) -> list[str]:
    """The last two lines of stderr, after checking they are Leyden's error and no traceback came first."""
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()[-2:]
    assert lines[0].startswith("leyden: error: ") and lines[1].startswith("  fix: "), result.stderr[-2000:]
    return lines


@pytest.fixture
def leyden_in_process(monkeypatch, capsys):
    """``leyden`` run inside this process (no interpreter start-up: runs that fail before training take a
    second, not ten); an unexpected exception escapes to pytest, so a traceback fails the test."""

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        monkeypatch.chdir(cwd)
        monkeypatch.setenv("WANDB_MODE", "disabled")
        monkeypatch.setattr(sys, "argv", ["leyden"])  # the args go to main()
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exit:
            code = exit.code
        out, err = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out, err)

    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A run folder holding checkpoints/last.ckpt after one epoch at lr=1e-3."""
    run = tmp_path_factory.mktemp("trained")
    result = leyden("fit", *ARGS, "--trainer.max_epochs", "1", cwd=run)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def _copy_run(trained: Path, tmp_path: Path) -> Path:
    shutil.copytree(trained / "checkpoints", tmp_path / "checkpoints")
    return tmp_path / "checkpoints" / "last.ckpt"


# ------------------------------------------------------------------ last.ckpt every epoch, atomically
def _steps_per_epoch() -> int:
    from leyden_core.data import DigitsDataModule

    data = DigitsDataModule(image_size=8)
    data.setup("fit")
    return len(data.train_dataloader())


def test_last_ckpt_is_written_every_epoch_even_when_validation_is_rare_and_a_sigkill_loses_one_epoch(
    tmp_path,
):
    result = leyden(
        "fit",
        *ARGS,
        "--trainer.max_epochs",
        "5",
        "--trainer.check_val_every_n_epoch",
        "5",
        "--trainer.callbacks+=tests.core.test_checkpoint_safety.KillAtEpochStart",
        "--trainer.callbacks.epoch=2",
        cwd=tmp_path,
        extra_env=PROBE_ENV,
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]
    checkpoints = tmp_path / "checkpoints"
    assert _load(checkpoints / "last.ckpt")["global_step"] == 2 * _steps_per_epoch()  # epochs 0 and 1
    assert sorted(p.name for p in checkpoints.iterdir()) == ["last.ckpt"], "no temp files, no last-v1.ckpt"


def test_atomic_write_keeps_the_previous_file_when_the_writer_dies_mid_write(tmp_path, monkeypatch):
    target = tmp_path / "last.ckpt"
    atomic_torch_save({"state_dict": {"w": torch.ones(3)}}, target)
    before = target.read_bytes()

    def dies_half_way(obj, f):
        f.write(b"PK\x03\x04 half a checkpoint")
        raise KeyboardInterrupt  # Ctrl-C while writing

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"state_dict": {"w": torch.zeros(3)}}, target)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_a_temp_file_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    stale = tmp_path / f".last.ckpt.12345{TEMP_SUFFIX}"
    stale.write_bytes(b"x" * 1000)
    atomic_torch_save({"state_dict": {}}, tmp_path / "last.ckpt")
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


def test_checkpoint_io_never_replaces_a_checkpoint_with_non_finite_weights(tmp_path):
    target = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state_dict": {"w": torch.ones(2)}}, target)
    with pytest.warns(UserWarning, match="1 of 2 weight tensors are not finite"):
        io.save_checkpoint(
            {"state_dict": {"w": torch.tensor([1.0, float("nan")]), "b": torch.ones(1)}}, target
        )
    assert torch.equal(_load(target)["state_dict"]["w"], torch.ones(2))


# ------------------------------------------------------------------ the resume rule, for `last` and a path
@pytest.mark.parametrize("how", ["path", "last"])
def test_resume_uses_the_configured_hyperparameters_including_the_optimizers(
    trained, tmp_path, how, leyden_in_process
):
    last = _copy_run(trained, tmp_path)
    ckpt = str(last) if how == "path" else "last"
    result = leyden_in_process(
        "fit", *ARGS, "--trainer.max_epochs", "2", "--model.lr", "0.07", "--ckpt_path", ckpt, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "lr: 0.07 (checkpoint: 0.001)" in result.stdout + result.stderr
    final = _load(last)
    assert final["global_step"] == 2 * _steps_per_epoch(), "continued from the checkpoint's loop state"
    assert final["hyper_parameters"]["lr"] == 0.07
    assert final["optimizer_states"][0]["param_groups"][0]["lr"] == 0.07, (
        "the optimizer used the configured lr"
    )


@pytest.mark.parametrize("how", ["path", "last"])
def test_resume_refuses_a_checkpoint_of_another_class_and_keeps_it(trained, tmp_path, how, leyden_in_process):
    last = _copy_run(trained, tmp_path)
    before = last.read_bytes()
    ckpt = str(last) if how == "path" else "last"
    result = leyden_in_process(
        "fit",
        *ARGS,
        "--model",
        "tests.core.test_checkpoint_safety.OtherClassifier",
        "--model.backbone",
        "leyden_tiny_cnn",
        "--ckpt_path",
        ckpt,
        cwd=tmp_path,
    )
    problem, fix = _two_line_error(result)
    assert "ImageClassifier checkpoint" in problem and "configured model is OtherClassifier" in problem
    assert "--model ImageClassifier" in fix
    assert last.read_bytes() == before, "a refused resume leaves the checkpoint as it was"


def test_resume_with_weights_that_do_not_fit_names_the_differing_hyperparameter(
    trained, tmp_path, leyden_in_process
):
    last = _copy_run(trained, tmp_path)
    before = last.read_bytes()
    result = leyden_in_process(
        "fit", *ARGS, "--model.backbone", "resnet18", "--ckpt_path", str(last), cwd=tmp_path
    )
    problem, fix = _two_line_error(result)
    assert "do not fit the configured ImageClassifier" in problem
    assert "backbone: 'resnet18' (checkpoint: 'leyden_tiny_cnn')" in fix
    assert last.read_bytes() == before, "the on-exception checkpoint did not overwrite it with fresh weights"


# ------------------------------------------------------------------ bad --ckpt_path files
def _bad_checkpoint(kind: str, trained: Path, tmp_path: Path) -> Path:
    path = tmp_path / f"{kind}.ckpt"
    if kind == "truncated":
        data = (trained / "checkpoints" / "last.ckpt").read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "random_bytes":
        path.write_bytes(os.urandom(4096))
    elif kind == "plain_state_dict":
        torch.save(_load(trained / "checkpoints" / "last.ckpt")["state_dict"], path)
    return path  # "missing": never written


@pytest.mark.parametrize(
    "kind, expected",
    [
        ("missing", "not found"),
        ("truncated", "truncated or corrupt"),
        ("random_bytes", "truncated or corrupt"),
        ("plain_state_dict", "not a Lightning checkpoint"),
    ],
)
def test_bad_ckpt_path_is_a_two_line_error(trained, tmp_path, kind, expected, leyden_in_process):
    path = _bad_checkpoint(kind, trained, tmp_path)
    result = leyden_in_process(
        "fit", *ARGS, "--trainer.max_epochs", "1", "--ckpt_path", str(path), cwd=tmp_path
    )
    problem, _ = _two_line_error(result)
    assert expected in problem and str(path) in problem
    assert not (tmp_path / "checkpoints").exists(), "nothing was trained or written"
