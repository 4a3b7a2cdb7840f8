"""``TextDataModule``: documents -> token batches in the format the method asks for.

The DataModule reads documents (the bundled standard-library corpus, a folder of ``.txt`` files,
IMDB's ``aclImdb`` layout, or a CSV/JSONL table) and splits them by document. It does not choose a
tokenizer: the method owns it (it travels in the method's checkpoint) and, in its ``setup``, trains
one on :meth:`TextDataModule.tokenizer_corpus` or restores it, then calls :meth:`attach` with the
batch format it trains on:

- ``causal``: every document of the split, each followed by end-of-text, concatenated and cut into
  blocks of ``block_size`` tokens (packed sequences: no padding, every token is a target);
- ``masked``: the same packed stream in blocks of ``[CLS] ... [SEP]``;
- ``masked_pairs``: ``[CLS] A [SEP] B [SEP]`` of two consecutive segments of one document (for
  sentence-order and next-sentence prediction) with ``token_type_ids``;
- ``classification``: each labeled document, truncated to ``block_size``, with its class; the
  training split keeps ``labels_per_class`` (or ``labeled_fraction``) labels, as the image DataModules do.

``leyden predict`` batches are raw strings (:meth:`TextDataModule.predict_texts`); the method
tokenizes them with its own tokenizer (a causal LM continues each, a classifier labels each).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from leyden_core.checks import check_choice, check_count, check_fraction, check_train_batches
from leyden_core.data.labels import check_label_budget, labeled_subset
from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.corpus import CLASS_NAMES, Document, split_of, stdlib_split
from leyden_selfsup.text.loaders import IMDB_CLASSES, read_aclimdb, read_table, read_text_folder
from leyden_selfsup.text.tokenizer import TextTokenizer

SOURCES = ("stdlib", "folder", "aclimdb", "table")
FORMATS = ("causal", "masked", "masked_pairs", "classification")
PAIR_TASKS = ("sop", "nsp")
SPLITS = ("train", "val", "test")


class TokenBlocks(Dataset):
    """Fixed-length rows of a tensor of token ids (the packed stream cut into blocks)."""

    def __init__(self, blocks: torch.Tensor) -> None:
        self.blocks = blocks

    def __len__(self) -> int:
        return len(self.blocks)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.blocks[index]}


class Examples(Dataset):
    """Variable-length examples (dicts of 1-D tensors and scalars), padded per batch by :func:`pad_collate`."""

    def __init__(self, examples: list[dict[str, Any]]) -> None:
        self.examples = examples

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.examples[index]


def packed_blocks(sequences: list[list[int]], separator: int, length: int) -> torch.Tensor:
    """Concatenate ``sequences`` (each followed by ``separator``) and cut into ``(n, length)`` blocks."""
    stream = [token for ids in sequences for token in (*ids, separator)]
    count = len(stream) // length
    return torch.tensor(stream[: count * length], dtype=torch.long).view(count, length)


def segment_pairs(
    sequences: list[list[int]], tokenizer: TextTokenizer, block_size: int, task: str, seed: int
) -> list[dict[str, Any]]:
    """``[CLS] A [SEP] B [SEP]`` examples from consecutive segments A, B of each document.

    ``sop`` (ALBERT's sentence order): B follows A (label 0) or the two are swapped (label 1).
    ``nsp`` (BERT's next sentence): B follows A (label 0) or is a segment of another document (label 1).
    Each with probability 1/2, fixed by ``seed``.
    """
    half = (block_size - 3) // 2
    segments = [[ids[i : i + half] for i in range(0, len(ids), half)] for ids in sequences]
    everything = [(d, s) for d, segs in enumerate(segments) for s in range(len(segs))]
    rng = np.random.default_rng(seed)
    examples = []
    for d, segs in enumerate(segments):
        for s in range(len(segs) - 1):
            first, second, label = segs[s], segs[s + 1], int(rng.random() < 0.5)
            if label and task == "sop":
                first, second = second, first
            elif label:
                other = [
                    (od, os)
                    for od, os in (everything[i] for i in rng.integers(len(everything), size=8))
                    if od != d
                ]
                if not other:
                    label = 0
                else:
                    second = segments[other[0][0]][other[0][1]]
            ids = [tokenizer.cls_id, *first, tokenizer.sep_id, *second, tokenizer.sep_id]
            types = [0] * (len(first) + 2) + [1] * (len(second) + 1)
            examples.append(
                {"input_ids": torch.tensor(ids), "token_type_ids": torch.tensor(types), "pair_label": label}
            )
    return examples


def classification_ids(tokenizer: TextTokenizer, ids: list[int], block_size: int) -> torch.Tensor:
    """``[CLS] text [SEP]``, the text cut to fit ``block_size`` tokens: one classifier input."""
    return torch.tensor([tokenizer.cls_id, *ids[: block_size - 2], tokenizer.sep_id])


def classification_inputs(
    texts: list[str], tokenizer: TextTokenizer, block_size: int
) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` of raw texts, built as the classification batches are."""
    examples = [
        {"input_ids": classification_ids(tokenizer, ids, block_size)} for ids in tokenizer.encode(texts)
    ]
    return pad_collate(tokenizer.pad_id)(examples)


def raw_texts(texts: list[str]) -> list[str]:
    """The collate of ``leyden predict`` batches: the strings as they are."""
    return texts


def read_lines(path: str | Path) -> list[str]:
    """The non-blank lines of a UTF-8 text file, each a text (trailing whitespace removed)."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise LeydenConfigError(
            f"prompts_file not found: {source.resolve()}", "pass a UTF-8 text file with one text per line"
        )
    lines = [line.rstrip() for line in source.read_text(encoding="utf-8").splitlines()]
    texts = [line for line in lines if line.strip()]
    if not texts:
        raise LeydenConfigError(f"prompts_file {source} has no text", "write one text per line")
    return texts


def pad_collate(pad_id: int):
    """Collate dicts of 1-D tensors (padded to the batch's longest, with an ``attention_mask``) and ints."""

    def collate(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        longest = max(len(e["input_ids"]) for e in examples)
        batch: dict[str, torch.Tensor] = {}
        for key in examples[0]:
            if isinstance(examples[0][key], torch.Tensor):
                fill = pad_id if key == "input_ids" else 0
                rows = [
                    torch.nn.functional.pad(e[key], (0, longest - len(e[key])), value=fill) for e in examples
                ]
                batch[key] = torch.stack(rows)
            else:
                batch[key] = torch.tensor([e[key] for e in examples])
        lengths = torch.tensor([len(e["input_ids"]) for e in examples])
        batch["attention_mask"] = (torch.arange(longest)[None, :] < lengths[:, None]).long()
        return batch

    return collate


class TextDataModule(pl.LightningDataModule):
    """Text documents for pretraining (``causal``/``masked``) and for classification, split by document.

    Args:
        source: ``stdlib`` (bundled: Python's documentation topics and 108 modules' docstrings, labeled
            by module family), ``folder`` (``.txt`` files, unlabeled), ``aclimdb`` (IMDB sentiment,
            ``path`` = the ``aclImdb`` folder) or ``table`` (``path`` = a ``.csv`` or ``.jsonl`` file).
        path: where ``folder``, ``aclimdb`` and ``table`` read from.
        text_column, label_column: the columns of a ``table``.
        batch_size: sequences per batch (per process under DDP).
        labels_per_class, labeled_fraction: the label budget of the classification training split.
        val_fraction, test_fraction: document fractions held out (the hash of a document's name
            decides; ``aclimdb`` uses its own test split).
        seed: of the label budget and of the sentence pairs.
        prompts, prompts_file: the texts ``leyden predict`` reads, as a list or as a UTF-8 file with
            one text per line (not both). A causal LM continues each, a classifier labels each; with
            neither, a causal LM continues ``"The "`` and a classifier labels the test split.
    """

    def __init__(
        self,
        source: str = "stdlib",
        path: str | None = None,
        text_column: str = "text",
        label_column: str | None = "label",
        batch_size: int = 32,
        labels_per_class: int | None = None,
        labeled_fraction: float | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        seed: int = 0,
        num_workers: int = 0,
        prompts: list[str] | None = None,
        prompts_file: str | None = None,
    ) -> None:
        super().__init__()
        check_choice("source", source, SOURCES)
        if source != "stdlib" and not path:
            raise LeydenConfigError(f"source {source!r} reads from a path, but none is set", "set data.path")
        check_count("batch_size", batch_size)
        check_count("num_workers", num_workers, minimum=0)
        check_label_budget(labels_per_class, labeled_fraction)
        check_fraction("val_fraction", val_fraction, 0.15)
        check_fraction("test_fraction", test_fraction, 0.15)
        if prompts and prompts_file:
            raise LeydenConfigError(
                "both prompts and prompts_file are set", "give the texts to predict one way: a list or a file"
            )
        self.save_hyperparameters()
        self._documents: dict[str, list[Document]] | None = None
        self.class_names: tuple[str, ...] = ()
        self.tokenizer: TextTokenizer | None = None
        self.batch_format: str | None = None
        self.block_size = 128
        self.pair_task = "sop"

    # documents -------------------------------------------------------------------------------------
    def documents(self, split: str) -> list[Document]:
        """The documents of ``train``, ``val`` or ``test`` (read once)."""
        if self._documents is None:
            self._documents = self._read()
        return self._documents[split]

    def _read(self) -> dict[str, list[Document]]:
        hp = self.hparams
        fractions = {"val_fraction": hp.val_fraction, "test_fraction": hp.test_fraction}
        if hp.source == "stdlib":
            self.class_names = CLASS_NAMES
            return {split: stdlib_split(split) for split in ("train", "val", "test")}
        if hp.source == "aclimdb":
            self.class_names = IMDB_CLASSES
            train = read_aclimdb(hp.path, "train")
            splits = {
                s: [d for d in train if split_of(d.name, hp.val_fraction, 0.0) == s] for s in ("train", "val")
            }
            return {**splits, "test": read_aclimdb(hp.path, "test")}
        if hp.source == "folder":
            documents = read_text_folder(hp.path)
        else:
            documents, self.class_names = read_table(hp.path, hp.text_column, hp.label_column)
        return {
            s: [d for d in documents if split_of(d.name, **fractions) == s] for s in ("train", "val", "test")
        }

    @property
    def num_classes(self) -> int:
        self.documents("train")
        return len(self.class_names)

    def tokenizer_corpus(self) -> list[str]:
        """The texts a new tokenizer is trained on: the training split only."""
        return [doc.text for doc in self.documents("train")]

    # batches ---------------------------------------------------------------------------------------
    def attach(
        self, tokenizer: TextTokenizer, batch_format: str, block_size: int, pair_task: str = "sop"
    ) -> None:
        """Called by the method in its ``setup`` (and when a checkpoint restores its tokenizer)."""
        check_choice("batch format", batch_format, FORMATS)
        if batch_format == "classification" and not self.num_classes:
            raise LeydenConfigError(
                f"source {self.hparams.source!r} has no labels, so it cannot train a classifier",
                "use source: stdlib, aclimdb or a table with a label column",
            )
        self.tokenizer, self.batch_format, self.block_size, self.pair_task = (
            tokenizer,
            batch_format,
            block_size,
            pair_task,
        )

    def dataset(self, split: str) -> Dataset:
        if self.tokenizer is None or self.batch_format is None:
            raise RuntimeError(
                "attach(tokenizer, batch_format, block_size) first (the method does it in setup)"
            )
        tok, size, documents = self.tokenizer, self.block_size, self.documents(split)
        if self.batch_format == "classification":
            labeled = [d for d in documents if d.label is not None]
            if split == "train":
                labels = np.array([d.label for d in labeled])
                keep = labeled_subset(
                    labels, self.hparams.labels_per_class, self.hparams.labeled_fraction, self.hparams.seed
                )
                labeled = [d for d, k in zip(labeled, keep) if k]
            examples = [
                {"input_ids": classification_ids(tok, ids, size), "label": doc.label}
                for doc, ids in zip(labeled, tok.encode([d.text for d in labeled]))
            ]
            return Examples(examples)
        sequences = tok.encode([d.text for d in documents])
        if self.batch_format == "causal":
            return TokenBlocks(packed_blocks(sequences, tok.eos_id, size))
        if self.batch_format == "masked":
            body = packed_blocks(sequences, tok.sep_id, size - 2)
            cls, sep = torch.full((len(body), 1), tok.cls_id), torch.full((len(body), 1), tok.sep_id)
            return TokenBlocks(torch.cat([cls, body, sep], dim=1))
        return Examples(
            segment_pairs(sequences, tok, size, self.pair_task, self.hparams.seed + SPLITS.index(split))
        )

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(split)
        if shuffle:
            world = self.trainer.world_size if self.trainer is not None else 1
            check_train_batches(len(dataset), self.hparams.batch_size, drop_last=False, world_size=world)
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            collate_fn=pad_collate(self.tokenizer.pad_id),
            persistent_workers=self.hparams.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def predict_texts(self) -> list[str]:
        """``prompts``, else the lines of ``prompts_file``, else what suits the attached method: the
        test split's labeled texts for a classifier, ``"The "`` for a language model."""
        if self.hparams.prompts:
            return list(self.hparams.prompts)
        if self.hparams.prompts_file:
            return read_lines(self.hparams.prompts_file)
        if self.batch_format == "classification":
            return [d.text for d in self.documents("test") if d.label is not None]
        return ["The "]

    def predict_dataloader(self) -> DataLoader:
        """:meth:`predict_texts` in batches of raw strings, in order."""
        return DataLoader(self.predict_texts(), batch_size=self.hparams.batch_size, collate_fn=raw_texts)
