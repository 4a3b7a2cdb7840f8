"""Resuming a self-supervised run: another method's checkpoint is refused, configured values are used."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.core.cli_runner import leyden_completed

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "selfsup"
QUICK = [
    "--trainer.accelerator=cpu",
    "--trainer.enable_progress_bar=false",
    "--trainer.logger=false",
    "--trainer.check_val_every_n_epoch=100",
]


@pytest.fixture
def simclr_checkpoint(tmp_path, monkeypatch, capsys) -> Path:
    config = [
        "fit",
        "--config",
        str(EXAMPLES / "simclr_digits.yaml"),
        f"--trainer.default_root_dir={tmp_path}",
    ]
    result = leyden_completed([*config, *QUICK, "--trainer.max_steps=2"], tmp_path, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / "checkpoints" / "last.ckpt"


@pytest.mark.parametrize("how", ["path", "last"])
def test_moco_v2_config_with_a_simclr_checkpoint_is_refused(
    simclr_checkpoint, tmp_path, monkeypatch, capsys, how
):
    before = simclr_checkpoint.read_bytes()
    config = [
        "fit",
        "--config",
        str(EXAMPLES / "moco_v2_digits.yaml"),
        f"--trainer.default_root_dir={tmp_path}",
    ]
    ckpt = str(simclr_checkpoint) if how == "path" else "last"
    result = leyden_completed([*config, *QUICK, "--ckpt_path", ckpt], tmp_path, monkeypatch, capsys)
    assert result.returncode == 2, result.stderr[-3000:]
    problem, fix = result.stderr.strip().splitlines()[-2:]
    assert "is a SimCLR checkpoint" in problem and "the configured model is MoCoV2" in problem
    assert "--model SimCLR" in fix
    assert simclr_checkpoint.read_bytes() == before


@pytest.mark.parametrize("how", ["path", "last"])
def test_resume_honours_configured_temperature_and_lr(simclr_checkpoint, tmp_path, monkeypatch, capsys, how):
    config = [
        "fit",
        "--config",
        str(EXAMPLES / "simclr_digits.yaml"),
        f"--trainer.default_root_dir={tmp_path}",
    ]
    ckpt = str(simclr_checkpoint) if how == "path" else "last"
    overrides = ["--model.temperature=0.9", "--model.lr=0.07", "--trainer.max_steps=3"]
    result = leyden_completed(
        [*config, *QUICK, *overrides, "--ckpt_path", ckpt], tmp_path, monkeypatch, capsys
    )
    assert result.returncode == 0, result.stderr[-3000:]
    final = torch.load(simclr_checkpoint, map_location="cpu", weights_only=True)
    assert final["global_step"] == 3, "continued from step 2"
    assert final["hyper_parameters"]["temperature"] == 0.9 and final["hyper_parameters"]["lr"] == 0.07
    base_lrs = final["lr_schedulers"][0]["base_lrs"] if final.get("lr_schedulers") else []
    groups = final["optimizer_states"][0]["param_groups"]
    assert groups[0].get("initial_lr", groups[0]["lr"]) == 0.07 and (not base_lrs or base_lrs[0] == 0.07)
