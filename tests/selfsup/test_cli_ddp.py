"""Every method trains from its digits example through the real ``leyden fit``, in 2-process DDP (gloo).

Each run starts two CPU processes from the example config with a few steps; rank 0's checkpoint must
show the steps taken and finite weights. Each run costs 20-30 s on a quiet 2-core machine and minutes
under load, so the pretraining methods and FixMatch are ``slow`` (``pytest -m slow tests/selfsup/test_cli_ddp.py``);
Noisy Student, whose labeled batches are sharded by rank, runs in the default suite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.core.cli_runner import leyden

REPO = Path(__file__).resolve().parents[2]
STEPS = 2
EXAMPLES = {
    "simclr_digits": [],
    "moco_v2_digits": [],
    "moco_v3_digits": [],
    "rotnet_digits": [],
    "jigsaw_digits": [],
    "noisy_student_digits": [
        "--model.init_args.rounds=1",
        "--model.init_args.epochs_per_round=1",
        "--model.init_args.labeled_batch_size=8",
    ],
    "byol_digits": [],
    "dino_digits": [],
    "barlow_twins_digits": [],
    "vicreg_digits": [],
    "mae_digits": [],
    "fixmatch_digits": [],
}
pytestmark = pytest.mark.ddp


@pytest.mark.parametrize(
    "example",
    [
        pytest.param(name, marks=[] if name == "noisy_student_digits" else pytest.mark.slow)
        for name in EXAMPLES
    ],
)
def test_example_trains_with_two_process_ddp_from_the_cli(example: str, tmp_path) -> None:
    epochs = 2 if example == "noisy_student_digits" else 1  # the teacher's round, then one student round
    result = leyden(
        "fit",
        "--config",
        str(REPO / "examples" / "selfsup" / f"{example}.yaml"),
        *EXAMPLES[example],
        "--trainer.strategy=ddp",
        "--trainer.devices=2",
        "--trainer.accelerator=cpu",
        f"--trainer.max_epochs={epochs}",
        f"--trainer.limit_train_batches={STEPS}",
        "--trainer.limit_val_batches=1",
        "--trainer.check_val_every_n_epoch=1",
        "--trainer.enable_progress_bar=false",
        f"--trainer.default_root_dir={tmp_path}",
        cwd=tmp_path,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == epochs * STEPS
    state = checkpoint["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    if example == "noisy_student_digits":
        assert state["round"].item() == 1
