"""Text data: the bundled corpus splits by document, the user-data readers, and the batch formats."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.corpus import CLASS_NAMES, split_of, stdlib_docstrings, stdlib_split
from leyden_selfsup.text.data import TextDataModule, classification_inputs, packed_blocks, pad_collate
from leyden_selfsup.text.loaders import read_aclimdb, read_table, read_text_folder

pytest.importorskip("tokenizers")
from leyden_selfsup.text.tokenizer import load_tokenizer, train_tokenizer  # noqa: E402

SENTENCES = [
    "the socket module opens network connections to remote hosts",
    "the math module computes square roots and logarithms of numbers",
    "a thread runs a function concurrently with other threads",
    "json encodes python objects as text and decodes them again",
]


def test_stdlib_corpus_is_real_labeled_text_split_by_document() -> None:
    documents = stdlib_docstrings()
    labels = np.array([d.label for d in documents])
    assert len(documents) > 1000 and set(labels) == set(range(len(CLASS_NAMES)))
    assert len({d.name for d in documents}) == len(documents)
    splits = {s: {d.name for d in stdlib_split(s)} for s in ("train", "val", "test")}
    assert not (
        splits["train"] & splits["val"] or splits["train"] & splits["test"] or splits["val"] & splits["test"]
    )
    sizes = {s: len(names) for s, names in splits.items()}
    assert sizes["train"] > 3 * sizes["test"] > 0 and sizes["val"] > 0
    assert all(d.label is None for d in stdlib_split("train") if d.name.startswith("topic:"))
    assert split_of("json.dumps") == split_of("json.dumps")  # a hash of the name, not of the run


def test_labels_per_class_keeps_that_many_training_labels_and_all_evaluation_ones(tmp_path) -> None:
    data = TextDataModule(labels_per_class=3)
    tokenizer = train_tokenizer("wordpiece", SENTENCES * 5, vocab_size=200)
    data.attach(tokenizer, "classification", block_size=32)
    train_labels = [e["label"] for e in data.dataset("train").examples]
    assert sorted(np.bincount(train_labels)) == [3] * len(CLASS_NAMES)
    val = data.dataset("val")
    assert len(val) == sum(d.label is not None for d in stdlib_split("val"))
    assert all(len(e["input_ids"]) <= 32 for e in val.examples)


def test_readers_for_user_data(tmp_path) -> None:
    (tmp_path / "corpus" / "sub").mkdir(parents=True)
    for i, text in enumerate(SENTENCES):
        (tmp_path / "corpus" / ("sub" if i % 2 else ".") / f"{i}.txt").write_text(text)
    assert sorted(d.text for d in read_text_folder(tmp_path / "corpus")) == sorted(SENTENCES)

    for split in ("train", "test"):
        for label in ("pos", "neg"):
            folder = tmp_path / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i in range(2):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(f"{label} review {i}")
    reviews = read_aclimdb(tmp_path / "aclImdb", "test")
    assert [(d.text, d.label) for d in reviews][:1] == [("neg review 0", 0)] and len(reviews) == 4

    (tmp_path / "t.csv").write_text('text,label\n"hello, world",b\nsecond,a\nunlabeled,\n')
    documents, classes = read_table(tmp_path / "t.csv")
    assert classes == ("a", "b") and [d.label for d in documents] == [1, 0, None]
    assert documents[0].text == "hello, world"
    rows = [{"body": t, "topic": i % 2} for i, t in enumerate(SENTENCES)]
    (tmp_path / "t.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    documents, classes = read_table(tmp_path / "t.jsonl", text_column="body", label_column="topic")
    assert classes == ("0", "1") and [d.label for d in documents] == [0, 1, 0, 1]


@pytest.mark.parametrize(
    "read",
    [
        lambda p: read_text_folder(p / "nowhere"),
        lambda p: read_aclimdb(p / "nowhere", "train"),
        lambda p: read_table(p / "nowhere.csv"),
        lambda p: load_tokenizer(p / "nowhere"),
    ],
)
def test_a_missing_path_names_what_was_searched(read, tmp_path) -> None:
    with pytest.raises(LeydenConfigError) as error:
        read(tmp_path)
    assert str(tmp_path / "nowhere") in error.value.problem


def test_tokenizers_round_trip_and_travel_as_one_string(tmp_path) -> None:
    for kind in ("bpe", "wordpiece"):
        tokenizer = train_tokenizer(kind, SENTENCES * 5, vocab_size=300)
        ids = tokenizer.encode(["the socket module"])[0]
        assert tokenizer.decode(ids).strip() == "the socket module"
        assert tokenizer.mask_id is not None and tokenizer.pad_id in tokenizer.special_ids
        restored = type(tokenizer).from_str(tokenizer.to_str())
        assert restored.encode(SENTENCES) == tokenizer.encode(SENTENCES)
        tokenizer.save(tmp_path / kind)
        assert load_tokenizer(tmp_path / kind).encode(SENTENCES) == tokenizer.encode(SENTENCES)


def test_packed_blocks_and_padding() -> None:
    blocks = packed_blocks([[1, 2, 3], [4, 5]], separator=0, length=3)
    assert blocks.tolist() == [[1, 2, 3], [0, 4, 5]]  # the trailing separator did not fill a block
    batch = pad_collate(pad_id=9)(
        [{"input_ids": torch.tensor([1, 2, 3]), "label": 1}, {"input_ids": torch.tensor([4]), "label": 0}]
    )
    assert batch["input_ids"].tolist() == [[1, 2, 3], [4, 9, 9]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]] and batch["label"].tolist() == [1, 0]


@pytest.mark.parametrize("task", ["sop", "nsp"])
def test_sentence_pairs_are_half_positive_with_segment_types(task: str, tmp_path) -> None:
    text = " ".join(SENTENCES * 10)
    rows = [{"text": f"{i} {text}"} for i in range(4)]
    (tmp_path / "docs.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    data = TextDataModule(
        source="table", path=str(tmp_path / "docs.jsonl"), val_fraction=0.0, test_fraction=0.0
    )
    tokenizer = train_tokenizer("wordpiece", [r["text"] for r in rows], vocab_size=300)
    data.attach(tokenizer, "masked_pairs", block_size=24, pair_task=task)
    examples = data.dataset("train").examples
    labels = np.array([e["pair_label"] for e in examples])
    assert len(examples) > 40 and 0.3 < labels.mean() < 0.7
    first = examples[0]
    assert first["input_ids"][0] == tokenizer.cls_id and len(first["input_ids"]) <= 24
    sep = (first["input_ids"] == tokenizer.sep_id).nonzero().flatten()
    assert (
        first["token_type_ids"][: sep[0] + 1].eq(0).all()
        and first["token_type_ids"][sep[0] + 1 :].eq(1).all()
    )


def test_predict_texts_come_from_the_list_the_file_or_the_test_split(tmp_path) -> None:
    tokenizer = train_tokenizer("bpe", SENTENCES * 5, vocab_size=300)
    listed = TextDataModule(prompts=["a", "b"])
    listed.attach(tokenizer, "causal", block_size=16)
    assert listed.predict_texts() == ["a", "b"]
    (tmp_path / "texts.txt").write_text("first passage\n\n  \nsecond passage  \n")
    from_file = TextDataModule(prompts_file=str(tmp_path / "texts.txt"), batch_size=8)
    from_file.attach(tokenizer, "classification", block_size=16)
    assert list(from_file.predict_dataloader()) == [["first passage", "second passage"]]
    default = TextDataModule()
    default.attach(tokenizer, "classification", block_size=16)
    test_texts = [d.text for d in stdlib_split("test") if d.label is not None]
    assert default.predict_texts() == test_texts and test_texts
    default.attach(tokenizer, "causal", block_size=16)
    assert default.predict_texts() == ["The "]
    with pytest.raises(LeydenConfigError):
        TextDataModule(prompts=["a"], prompts_file=str(tmp_path / "texts.txt"))
    missing = TextDataModule(prompts_file=str(tmp_path / "none.txt"))
    with pytest.raises(LeydenConfigError) as error:
        missing.predict_texts()
    assert "none.txt" in error.value.problem


def test_raw_texts_are_encoded_as_the_classification_examples_are() -> None:
    tokenizer = train_tokenizer("bpe", SENTENCES * 5, vocab_size=300)
    data = TextDataModule(source="stdlib")
    data.attach(tokenizer, "classification", block_size=12)
    example = data.dataset("test").examples[0]
    text = next(d.text for d in stdlib_split("test") if d.label is not None)
    inputs = classification_inputs([text, "the"], tokenizer, block_size=12)
    assert inputs["input_ids"][0].tolist() == example["input_ids"].tolist()
    assert inputs["input_ids"][0, 0] == tokenizer.cls_id and len(example["input_ids"]) == 12
    assert inputs["attention_mask"][1].tolist() == [1] * 3 + [0] * 9  # [CLS] the [SEP], then padding
