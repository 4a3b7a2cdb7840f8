"""Readers for the text a user has: a folder of ``.txt`` files, the IMDB ``aclImdb`` layout, CSV or JSONL.

Each returns :class:`~leyden_selfsup.text.corpus.Document` objects (text, class index or ``None``,
a name) and the class names; a missing path is a ``LeydenConfigError`` naming what was searched.
Labels are class indices in the sorted order of the label values, so the same file always gives the
same indices.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.corpus import Document

IMDB_CLASSES = ("neg", "pos")


def _existing(path: str | Path, what: str, how: str) -> Path:
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise LeydenConfigError(f"{what} not found at {resolved.resolve()}", how)
    return resolved


def read_text_folder(path: str | Path) -> list[Document]:
    """Every ``*.txt`` under ``path`` (any depth), unlabeled, in sorted order: a pretraining corpus."""
    root = _existing(path, "text folder", "pass a folder holding .txt files (read recursively)")
    files = sorted(root.rglob("*.txt")) if root.is_dir() else [root]
    if not files:
        raise LeydenConfigError(f"no .txt files under {root.resolve()}", "put UTF-8 .txt files there")
    return [
        Document(f.read_text(encoding="utf-8", errors="replace"), None, str(f.relative_to(root)))
        for f in files
    ]


def read_aclimdb(path: str | Path, split: str) -> list[Document]:
    """IMDB's ``aclImdb/<split>/{neg,pos}/*.txt`` (label 0 = neg, 1 = pos); ``split`` is train or test.

    One review per file (``<review id>_<rating>.txt``), so a file is a document.
    """
    how = "download aclImdb_v1.tar.gz from ai.stanford.edu/~amaas/data/sentiment and extract it; pass its aclImdb folder"
    root = _existing(Path(path) / split, f"aclImdb {split} split", how)
    documents = []
    for label, name in enumerate(IMDB_CLASSES):
        folder = _existing(root / name, f"aclImdb {split}/{name} folder", how)
        for file in sorted(folder.glob("*.txt")):
            documents.append(Document(file.read_text(encoding="utf-8"), label, f"{split}/{name}/{file.name}"))
    return documents


def read_table(
    path: str | Path, text_column: str = "text", label_column: str | None = "label"
) -> tuple[list[Document], tuple[str, ...]]:
    """A ``.csv`` (with a header) or ``.jsonl`` file; rows without a label are unlabeled.

    Returns the documents and the class names (the sorted distinct label values, as strings).
    """
    file = _existing(path, "table", "pass a .csv file with a header row or a .jsonl file (one object a line)")
    if file.suffix.lower() == ".jsonl":
        with file.open(encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    elif file.suffix.lower() == ".csv":
        with file.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
    else:
        raise LeydenConfigError(f"cannot read {file.name}: not .csv or .jsonl", "convert it to CSV or JSONL")
    if not rows:
        raise LeydenConfigError(f"{file.resolve()} holds no rows", "pass a file with a text column and rows")
    if rows and text_column not in rows[0]:
        raise LeydenConfigError(
            f"{file.name} has no column {text_column!r}; its columns are {', '.join(map(str, rows[0]))}",
            "set text_column to the column holding the text",
        )

    def label_of(row: dict) -> str | None:
        value = row.get(label_column) if label_column else None
        return None if value in (None, "") else str(value)

    class_names = tuple(sorted({label for row in rows if (label := label_of(row)) is not None}))
    index = {name: i for i, name in enumerate(class_names)}
    documents = [
        Document(str(row[text_column]), index.get(label_of(row)), f"{file.name}:{i}")
        for i, row in enumerate(rows)
    ]
    return documents, class_names
