"""The text methods through the real ``leyden`` CLI on tiny models: fit, resume, predict, export, transfer.

One small CSV corpus (generated) keeps every run to seconds; the bundled corpus has its own test in
test_text_data.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from leyden_core.cli import main
from tests.core.cli_runner import leyden_completed

pytest.importorskip("transformers")

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "selfsup"
TOPICS = {
    "network": "the socket connects to a remote host and sends bytes over the network to the server",
    "numbers": "the function returns the square root of a number as a float with full precision",
    "files": "the path names a file in a directory on the disk and the file is opened for reading",
}
TINY = ["--model.vocab_size=300", "--model.block_size=32", "--model.hidden_size=32", "--model.num_layers=2",
        "--model.num_heads=2", "--model.warmup_steps=0"]  # fmt: skip
QUICK = ["--trainer.accelerator=cpu", "--trainer.enable_progress_bar=false", "--trainer.logger=false",
         "--trainer.enable_model_summary=false", "--trainer.limit_val_batches=2"]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """60 labeled rows, 20 per topic, each a shuffled variation of its topic's sentence."""
    import random

    rng = random.Random(0)
    rows = []
    for i in range(60):
        label = list(TOPICS)[i % 3]
        words = TOPICS[label].split()
        rng.shuffle(words)
        rows.append({"text": f"{TOPICS[label]} {' '.join(words)}", "label": label})
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def fit(model: str, corpus: Path, root: Path, monkeypatch, capsys, *extra: str) -> dict:
    args = ["fit", "--model", model, *TINY, "--data=TextDataModule", "--data.source=table",
            f"--data.path={corpus}", "--data.batch_size=8", f"--trainer.default_root_dir={root}", *QUICK, *extra]  # fmt: skip
    result = leyden_completed(args, root, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    return torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)


def fit_once(corpus: Path, root: Path, *args: str) -> Path:
    """``leyden fit`` in-process for a module-scoped fixture (no per-test monkeypatch): its last checkpoint."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.setenv("WANDB_MODE", "disabled")
        monkeypatch.chdir(root)
        monkeypatch.setattr(sys, "argv", ["leyden"])
        main(["fit", *args, *TINY, "--data=TextDataModule", "--data.source=table", f"--data.path={corpus}",
              "--data.batch_size=8", f"--trainer.default_root_dir={root}", *QUICK])  # fmt: skip
    return root / "checkpoints" / "last.ckpt"


@pytest.fixture(scope="module")
def gpt_checkpoint(corpus, tmp_path_factory) -> Path:
    return fit_once(
        corpus, tmp_path_factory.mktemp("gpt"), "--model=CausalLMPretraining", "--trainer.max_epochs=2"
    )


def test_causal_lm_fits_without_nan_ties_its_head_and_saves_its_tokenizer(gpt_checkpoint) -> None:
    checkpoint = torch.load(gpt_checkpoint, weights_only=False)
    state = checkpoint["state_dict"]
    assert checkpoint["global_step"] > 2
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    torch.testing.assert_close(state["net.heads.lm.weight"], state["net.trunk.wte.weight"])
    assert "<|endoftext|>" in checkpoint["leyden_text"]["tokenizer"]

    from leyden_selfsup.text import CausalLMPretraining

    model = CausalLMPretraining.load_from_checkpoint(gpt_checkpoint, weights_only=False)
    assert model.net.heads["lm"].weight is model.net.trunk.wte.weight  # one parameter, not a copy
    text = model.generate("the socket", max_new_tokens=5, temperature=0.8, top_k=5)
    assert isinstance(text, str) and text
    greedy = [model.generate("the socket", max_new_tokens=5, temperature=0) for _ in range(2)]
    assert greedy[0] == greedy[1]


def test_resume_continues_with_the_saved_tokenizer(
    gpt_checkpoint, corpus, tmp_path, monkeypatch, capsys
) -> None:
    root = gpt_checkpoint.parents[1]
    before = torch.load(gpt_checkpoint, weights_only=False)
    resumed = fit(
        "CausalLMPretraining", corpus, root, monkeypatch, capsys, "--trainer.max_epochs=3", "--ckpt_path=last"
    )
    assert resumed["global_step"] == before["global_step"] * 3 // 2
    assert resumed["leyden_text"]["tokenizer"] == before["leyden_text"]["tokenizer"]


def test_predict_prints_continuations(gpt_checkpoint, corpus, tmp_path, monkeypatch, capsys) -> None:
    args = ["predict", "--model=CausalLMPretraining", *TINY, "--model.sample_tokens=4", "--data=TextDataModule",
            "--data.source=table", f"--data.path={corpus}", '--data.prompts=["the file", "the number"]',
            f"--ckpt_path={gpt_checkpoint}", *QUICK]  # fmt: skip
    result = leyden_completed(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    printed = [line for line in result.stdout.splitlines() if line.startswith(("the file", "the number"))]
    assert len(printed) == 2


CLASSIFIER = ["--model.num_classes=3", "--model.lr=1e-3", "--model.head_lr=1e-2", "--model.dropout=0.0"]


@pytest.fixture(scope="module")
def classifier_checkpoint(corpus, tmp_path_factory) -> Path:
    """A TextClassifier trained from scratch on every labeled training row of the corpus."""
    root = tmp_path_factory.mktemp("classifier")
    return fit_once(
        corpus, root, "--seed_everything=0", "--model=TextClassifier", *CLASSIFIER, "--trainer.max_epochs=15"
    )


def predict_classes(
    checkpoint: Path, corpus: Path, cwd: Path, monkeypatch, capsys, *data: str
) -> list[list[str]]:
    """``leyden predict`` with a classifier checkpoint: the printed ``label, probability, text`` rows."""
    args = ["predict", "--model=TextClassifier", *TINY, *CLASSIFIER, "--data=TextDataModule", "--data.source=table",
            f"--data.path={corpus}", "--data.batch_size=8", *data, f"--ckpt_path={checkpoint}", *QUICK]  # fmt: skip
    result = leyden_completed(args, cwd, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    return [line.split("\t") for line in result.stdout.splitlines() if line.count("\t") == 2]


def test_classifier_predict_names_the_class_of_each_line_of_a_file(
    classifier_checkpoint, corpus, tmp_path, monkeypatch, capsys
) -> None:
    assert torch.load(classifier_checkpoint, weights_only=False)["leyden_text"]["class_names"] == sorted(
        TOPICS
    )
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TOPICS.values()) + "\n")
    rows = predict_classes(
        classifier_checkpoint, corpus, tmp_path, monkeypatch, capsys, f"--data.prompts_file={texts}"
    )
    assert [label for label, _, _ in rows] == list(TOPICS)
    assert [text for _, _, text in rows] == [t[:100] for t in TOPICS.values()]
    assert all(1 / 3 < float(probability) <= 1 for _, probability, _ in rows)


def test_classifier_predict_defaults_to_the_test_split_with_probabilities_of_every_class(
    classifier_checkpoint, corpus, tmp_path
) -> None:
    from leyden_selfsup.text import TextClassifier, TextDataModule

    data = TextDataModule(source="table", path=str(corpus), batch_size=8)
    model = TextClassifier.load_from_checkpoint(classifier_checkpoint, weights_only=False)
    assert model.class_names == tuple(sorted(TOPICS))
    data.attach(model.tokenizer, "classification", block_size=32)
    test = [d for d in data.documents("test") if d.label is not None]
    batches = [model.predict_step(batch, i) for i, batch in enumerate(data.predict_dataloader())]
    outputs = [output for batch in batches for output in batch]
    assert [o["text"] for o in outputs] == [d.text for d in test] and outputs
    for output in outputs:
        assert set(output["probabilities"]) == set(TOPICS)
        assert sum(output["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert output["probability"] == max(output["probabilities"].values())
    correct = sum(o["label"] == data.class_names[d.label] for o, d in zip(outputs, test))
    assert correct / len(test) >= 0.8  # chance is 1/3


@pytest.mark.parametrize("method", ["CausalLMPretraining", "MaskedLMPretraining"])
def test_export_writes_a_folder_transformers_loads_with_no_missing_weights(
    method, gpt_checkpoint, corpus, tmp_path, monkeypatch, capsys
) -> None:
    from transformers import AutoModel, AutoTokenizer

    if method == "CausalLMPretraining":
        checkpoint_path = gpt_checkpoint
    else:
        fit(method, corpus, tmp_path, monkeypatch, capsys, "--trainer.max_steps=2")
        checkpoint_path = tmp_path / "checkpoints" / "last.ckpt"
    out = tmp_path / "exported"
    result = leyden_completed(
        ["export", str(checkpoint_path), "--out", str(out)], tmp_path, monkeypatch, capsys
    )
    assert result.returncode == 0, result.stderr[-3000:]
    model, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"], info
    state = torch.load(checkpoint_path, weights_only=False)["state_dict"]
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[f"net.trunk.{key}"], msg=key)
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert tokenizer("the socket")["input_ids"]


@pytest.mark.parametrize("pair_task", ["sop", "none"])
def test_masked_lm_fits_without_nan(pair_task, corpus, tmp_path, monkeypatch, capsys) -> None:
    checkpoint = fit("MaskedLMPretraining", corpus, tmp_path, monkeypatch, capsys, "--trainer.max_epochs=1",
                     f"--model.pair_task={pair_task}")  # fmt: skip
    state = checkpoint["state_dict"]
    assert checkpoint["global_step"] > 0 and ("net.heads.pair.weight" in state) == (pair_task != "none")
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    torch.testing.assert_close(
        state["net.heads.mlm.decoder.weight"], state["net.trunk.embeddings.word_embeddings.weight"]
    )


@pytest.mark.parametrize("finetune", ["frozen", "top_layers", "full"])
def test_classifier_transfers_a_pretrained_trunk(
    finetune, gpt_checkpoint, corpus, tmp_path, monkeypatch, capsys
) -> None:
    pretrained = torch.load(gpt_checkpoint, weights_only=False)["state_dict"]
    args = [f"--model.pretrained={gpt_checkpoint}", "--model.num_classes=3", f"--model.finetune={finetune}",
            "--model.keep_pretraining_head=true", "--data.labels_per_class=2", "--trainer.max_epochs=2"]  # fmt: skip
    checkpoint = fit("TextClassifier", corpus, tmp_path, monkeypatch, capsys, *args)
    state = checkpoint["state_dict"]
    assert checkpoint["global_step"] == 2  # 6 labeled rows, batch 8: one step an epoch
    changed = {
        k for k, v in pretrained.items() if k.startswith("net.trunk.") and not torch.equal(v, state[k])
    }
    if finetune == "frozen":
        assert not changed
    elif finetune == "top_layers":
        assert changed and all(k.startswith(("net.trunk.h.1.", "net.trunk.ln_f.")) for k in changed), changed
    else:
        assert "net.trunk.h.0.attn.c_attn.weight" in changed
    assert "net.heads.lm.weight" in state and "net.heads.task.weight" in state


def test_bf16_mixed_precision_runs_on_cpu(corpus, tmp_path, monkeypatch, capsys) -> None:
    checkpoint = fit("CausalLMPretraining", corpus, tmp_path, monkeypatch, capsys, "--trainer.max_steps=2",
                     "--trainer.precision=bf16-mixed")  # fmt: skip
    assert checkpoint["global_step"] == 2
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


def test_image_data_is_refused_with_a_two_line_error(tmp_path, monkeypatch, capsys) -> None:
    args = [
        "fit",
        "--model=CausalLMPretraining",
        *TINY,
        "--data=DigitsDataModule",
        *QUICK,
        "--trainer.max_steps=1",
    ]
    result = leyden_completed(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 2 and "TextDataModule" in result.stderr, result.stderr[-2000:]


def test_the_bundled_corpus_examples_pretrain_and_transfer(tmp_path, monkeypatch, capsys) -> None:
    """gpt_stdlib, bert_stdlib and text_classifier_stdlib as shipped, with smaller trunks and 2 steps."""
    small = [
        "--model.init_args.hidden_size=32",
        "--model.init_args.num_layers=1",
        "--model.init_args.num_heads=2",
    ]
    for name in ("gpt_stdlib", "bert_stdlib"):
        args = ["fit", "--config", str(EXAMPLES / f"{name}.yaml"), *small, "--trainer.max_steps=2",
                f"--trainer.default_root_dir={tmp_path / name}", *QUICK]  # fmt: skip
        result = leyden_completed(args, tmp_path, monkeypatch, capsys)
        assert result.returncode == 0, result.stderr[-3000:]
    pretrained = tmp_path / "gpt_stdlib" / "checkpoints" / "last.ckpt"
    args = ["fit", "--config", str(EXAMPLES / "text_classifier_stdlib.yaml"), f"--model.init_args.pretrained={pretrained}",
            "--trainer.max_steps=2", f"--trainer.default_root_dir={tmp_path / 'classifier'}", *QUICK]  # fmt: skip
    result = leyden_completed(args, tmp_path, monkeypatch, capsys)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = torch.load(tmp_path / "classifier" / "checkpoints" / "last.ckpt", weights_only=False)
    assert checkpoint["global_step"] == 2 and checkpoint["state_dict"]["net.heads.task.weight"].shape == (
        9,
        32,
    )


def test_samples_go_to_wandb_as_a_table(corpus, tmp_path) -> None:
    from leyden_core.wandb_offline import read_offline_run
    from tests.core.cli_runner import leyden as leyden_process

    args = ["fit", "--model=CausalLMPretraining", *TINY, "--model.sample_tokens=4", "--data=TextDataModule",
            "--data.source=table", f"--data.path={corpus}", "--data.batch_size=8", "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2", "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false"]  # fmt: skip
    result = leyden_process(*args, cwd=tmp_path, wandb_mode="offline", extra_env={"HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = (tmp_path / "wandb").glob("offline-run-*")
    run = read_offline_run(run_dir)
    assert any(key.startswith("samples") for row in run.history for key in row)
    assert run.metric("val/perplexity") and all(p > 1 for p in run.metric("val/perplexity"))


def test_a_classifier_learns_topics_from_five_labels_each(corpus, tmp_path) -> None:
    """From scratch through the Python API: 5 labeled rows per topic are enough on this easy task."""
    from leyden_core.testing import quiet_trainer
    from leyden_selfsup.text import TextClassifier, TextDataModule

    torch.manual_seed(0)
    model = TextClassifier(num_classes=3, vocab_size=300, block_size=32, hidden_size=32, num_layers=1, num_heads=2,
                           lr=1e-3, head_lr=1e-2)  # fmt: skip
    data = TextDataModule(source="table", path=str(corpus), batch_size=8, labels_per_class=5)
    trainer = quiet_trainer(
        max_epochs=15, enable_checkpointing=False, check_val_every_n_epoch=15, default_root_dir=tmp_path
    )
    trainer.fit(model, data)
    assert float(trainer.callback_metrics["val/accuracy"]) >= 0.9  # chance is 1/3
