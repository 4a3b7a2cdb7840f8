"""Causal-LM pretraining with its weights sharded per transformer block (FSDP2) in 2 CPU processes.

``leyden fit --trainer.strategy=ModelParallelStrategy`` shards the GPT-2 blocks across two gloo
processes; the same run in plain DDP must end with the same weights (both average the gradients of
the same global batches), and the single-file checkpoint must load into an unsharded model.
Lightning's ``strategy: fsdp`` (FSDP1) is refused on CPU by Lightning and by PyTorch, so it is not
run here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.core.cli_runner import leyden

pytest.importorskip("transformers")
pytestmark = [pytest.mark.ddp, pytest.mark.slow]

STEPS = 3
TINY = ["--model.vocab_size=300", "--model.block_size=16", "--model.hidden_size=32", "--model.num_layers=2",
        "--model.num_heads=2", "--model.dropout=0.0", "--model.warmup_steps=0", "--model.sample_tokens=3"]  # fmt: skip
FSDP = ["--trainer.strategy=ModelParallelStrategy", "--trainer.strategy.data_parallel_size=2",
        "--trainer.strategy.tensor_parallel_size=1", "--trainer.strategy.save_distributed_checkpoint=false"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    rows = [
        {"text": f"document {i} says the socket sends bytes number {i * 7} to host {i % 5}"}
        for i in range(80)
    ]
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def fit_two_processes(corpus: Path, root: Path, *strategy: str) -> dict:
    """``leyden fit`` of a tiny GPT in 2 CPU processes; validation (with samples) after step 2."""
    result = leyden(
        "fit", "--seed_everything=0", "--model=CausalLMPretraining", *TINY, "--data=TextDataModule",
        "--data.source=table", f"--data.path={corpus}", "--data.batch_size=4", "--trainer.accelerator=cpu",
        "--trainer.devices=2", *strategy, f"--trainer.max_steps={STEPS}", "--trainer.val_check_interval=2",
        "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
        f"--trainer.default_root_dir={root}", cwd=root, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)


@pytest.fixture(scope="module")
def fsdp_checkpoint(corpus, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("fsdp")
    return root / "checkpoints" / "last.ckpt", fit_two_processes(corpus, root, *FSDP)


def test_sharded_run_saves_a_full_checkpoint_an_unsharded_model_loads(fsdp_checkpoint) -> None:
    from leyden_selfsup.text import CausalLMPretraining

    path, checkpoint = fsdp_checkpoint
    state = checkpoint["state_dict"]
    assert checkpoint["global_step"] == STEPS
    assert all(
        type(v) is torch.Tensor and torch.isfinite(v).all() for v in state.values() if v.is_floating_point()
    )
    assert state["net.trunk.h.1.mlp.c_fc.weight"].shape == (32, 128)  # gathered, not a rank's shard
    torch.testing.assert_close(state["net.heads.lm.weight"], state["net.trunk.wte.weight"])
    model = CausalLMPretraining.load_from_checkpoint(path, weights_only=False)
    assert model.net.heads["lm"].weight is model.net.trunk.wte.weight
    assert isinstance(model.generate("the socket", max_new_tokens=3, temperature=0), str)


def test_sharded_training_matches_ddp(fsdp_checkpoint, corpus, tmp_path) -> None:
    _, sharded = fsdp_checkpoint
    ddp = fit_two_processes(corpus, tmp_path, "--trainer.strategy=ddp")
    assert ddp["leyden_text"]["tokenizer"] == sharded["leyden_text"]["tokenizer"]
    (earlier,) = (tmp_path / "checkpoints").glob("*step=2.ckpt")  # written by the validation after step 2
    before = torch.load(earlier, weights_only=False)["state_dict"]
    for key, value in ddp["state_dict"].items():
        torch.testing.assert_close(sharded["state_dict"][key], value, rtol=1e-4, atol=1e-5, msg=key)
    assert not torch.equal(
        ddp["state_dict"]["net.trunk.h.0.attn.c_attn.weight"], before["net.trunk.h.0.attn.c_attn.weight"]
    )
