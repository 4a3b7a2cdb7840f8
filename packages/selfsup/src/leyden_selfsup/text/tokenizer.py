"""Tokenizers from the ``tokenizers`` library: trained on the training split, or loaded from a local file.

GPT-style models get a byte-level BPE (every byte sequence encodes, no unknown token); BERT-style
models get a WordPiece with BERT's lower-casing normaliser. A tokenizer is one JSON string
(``Tokenizer.to_str()``), which is how it travels inside a checkpoint, and ``tokenizer.json`` in an
exported folder, which ``transformers``' ``PreTrainedTokenizerFast`` reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.extra import require_text_extra

if TYPE_CHECKING:
    from tokenizers import Tokenizer

KINDS = ("bpe", "wordpiece")
BPE_SPECIALS = ("<|endoftext|>", "<pad>", "<mask>")
WORDPIECE_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# the names a special token goes by in either convention (and in Hugging Face tokenizers)
ROLES = {
    "pad": ("[PAD]", "<pad>"),
    "eos": ("<|endoftext|>", "[SEP]", "</s>"),
    "cls": ("[CLS]", "<s>", "<|endoftext|>"),
    "sep": ("[SEP]", "</s>", "<|endoftext|>"),
    "mask": ("[MASK]", "<mask>"),
    "unk": ("[UNK]", "<unk>"),
}


class TextTokenizer:
    """A ``tokenizers.Tokenizer`` with the ids of its special tokens by role (``pad_id``, ``mask_id``...)."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        ids = {}
        for role, names in ROLES.items():
            found = [tokenizer.token_to_id(name) for name in names if tokenizer.token_to_id(name) is not None]
            ids[role] = found[0] if found else None
        if ids["eos"] is None:
            raise LeydenConfigError(
                "the tokenizer has no end-of-text or separator token", f"add one of {ROLES['eos']} to it"
            )
        self.eos_id: int = ids["eos"]
        self.pad_id: int = ids["pad"] if ids["pad"] is not None else self.eos_id
        self.cls_id: int = ids["cls"] if ids["cls"] is not None else self.eos_id
        self.sep_id: int = ids["sep"] if ids["sep"] is not None else self.eos_id
        self.mask_id: int | None = ids["mask"]
        self.special_ids: tuple[int, ...] = tuple(sorted({i for i in ids.values() if i is not None}))

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.get_vocab_size()

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without special tokens (the data code adds those it needs)."""
        return [e.ids for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def to_str(self) -> str:
        return self.tokenizer.to_str()

    @classmethod
    def from_str(cls, text: str) -> TextTokenizer:
        require_text_extra("a text tokenizer")
        from tokenizers import Tokenizer

        return cls(Tokenizer.from_str(text))

    def save(self, folder: str | Path) -> None:
        """``tokenizer.json`` plus the special tokens, as ``AutoTokenizer.from_pretrained(folder)`` reads them."""
        from transformers import PreTrainedTokenizerFast

        names = {
            role: self.tokenizer.id_to_token(getattr(self, f"{role}_id"))
            for role in ("pad", "eos", "cls", "sep")
        }
        fast = PreTrainedTokenizerFast(
            tokenizer_object=self.tokenizer,
            pad_token=names["pad"],
            eos_token=names["eos"],
            cls_token=names["cls"],
            sep_token=names["sep"],
            mask_token=self.tokenizer.id_to_token(self.mask_id) if self.mask_id is not None else None,
        )
        fast.save_pretrained(str(folder))


def train_tokenizer(kind: str, texts: Iterable[str], vocab_size: int) -> TextTokenizer:
    """A byte-level BPE (``bpe``, GPT-2's) or a lower-cased WordPiece (``wordpiece``, BERT's) on ``texts``."""
    require_text_extra("training a tokenizer")
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind == "bpe":
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(BPE_SPECIALS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
    elif kind == "wordpiece":
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tokenizer.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(
            vocab_size=vocab_size, special_tokens=list(WORDPIECE_SPECIALS), show_progress=False
        )
    else:
        raise LeydenConfigError(f"unknown tokenizer kind {kind!r}", f"use one of {', '.join(KINDS)}")
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return TextTokenizer(tokenizer)


def load_tokenizer(path: str | Path) -> TextTokenizer:
    """A ``tokenizer.json`` file, or a folder holding one (as ``save_pretrained`` writes it)."""
    require_text_extra("loading a tokenizer")
    from tokenizers import Tokenizer

    file = Path(path).expanduser()
    if file.is_dir():
        file = file / "tokenizer.json"
    if not file.is_file():
        raise LeydenConfigError(
            f"tokenizer not found at {file.resolve()}",
            "pass a tokenizer.json file or a folder holding one (e.g. a model saved with save_pretrained)",
        )
    return TextTokenizer(Tokenizer.from_file(str(file)))
