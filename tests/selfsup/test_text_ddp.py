"""Causal-LM pretraining in 2-process DDP (gloo, CPU): identical weights on both ranks, disjoint data."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

from leyden_core.testing import run_ddp_script

pytest.importorskip("transformers")
pytestmark = [pytest.mark.ddp, pytest.mark.slow]

SCRIPT = textwrap.dedent(
    """
    import sys

    import lightning.pytorch as pl
    import torch

    from leyden_selfsup.text import CausalLMPretraining, TextDataModule

    corpus, out = sys.argv[1], sys.argv[2]


    class RecordBatches(pl.Callback):
        def __init__(self):
            self.rows = []

        def on_train_batch_start(self, trainer, module, batch, batch_idx):
            self.rows += [tuple(row) for row in batch["input_ids"].tolist()]

        def on_train_end(self, trainer, module):
            state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            torch.save({"state": state, "rows": self.rows}, f"{out}/rank{trainer.global_rank}.pt")


    pl.seed_everything(0)
    model = CausalLMPretraining(vocab_size=300, block_size=16, hidden_size=32, num_layers=1, num_heads=2,
                                warmup_steps=0, num_samples=0)
    data = TextDataModule(source="table", path=corpus, batch_size=4, val_fraction=0.0, test_fraction=0.0)
    trainer = pl.Trainer(accelerator="cpu", devices=2, strategy="ddp", max_steps=3, logger=False,
                         enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                         limit_val_batches=0, callbacks=[RecordBatches()])
    trainer.fit(model, data)
    """
)


def test_two_process_ddp_keeps_identical_weights_on_disjoint_data(tmp_path) -> None:
    rows = [
        {"text": f"document {i} says the socket sends bytes number {i * 7} to host {i % 5}"}
        for i in range(80)
    ]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps(r) for r in rows))
    script = tmp_path / "ddp_text.py"
    script.write_text(SCRIPT)
    run_ddp_script(script, str(corpus), str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for key, value in ranks[0]["state"].items():
        torch.testing.assert_close(ranks[1]["state"][key], value, msg=key)
    seen = [set(r["rows"]) for r in ranks]
    assert len(ranks[0]["rows"]) == len(ranks[1]["rows"]) == 3 * 4
    assert not seen[0] & seen[1]
