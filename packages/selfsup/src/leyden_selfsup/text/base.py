"""What the text methods share: the tokenizer they own, the data hand-off, the checkpoint and the optimizer.

The method owns its tokenizer because the tokenizer is part of the model: the ids its embedding
rows stand for. In ``setup`` a method trains one on the DataModule's training split (or loads
``tokenizer``, a local file) and attaches it to the DataModule with the batch format it trains on;
the tokenizer is saved in every checkpoint, so resuming, ``leyden predict`` and ``leyden export``
use the very same one. A checkpoint also names its exporter (``export_with``), which ``leyden
export`` calls to write the trunk with ``save_pretrained``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import lightning.pytorch as pl
import torch

from leyden_core.checks import check_count, check_non_negative, check_positive
from leyden_core.errors import LeydenConfigError
from leyden_selfsup.optim import warmup_cosine
from leyden_selfsup.text.data import TextDataModule
from leyden_selfsup.text.extra import require_text_extra
from leyden_selfsup.text.tokenizer import TextTokenizer, load_tokenizer, train_tokenizer

CHECKPOINT_KEY = "leyden_text"
EXPORTER = "leyden_selfsup.text.export.export_checkpoint"


class TextModule(pl.LightningModule):
    """Base of the text methods; a subclass sets ``self.net`` (a TextMultiHeadNet) and its steps.

    Args (shared):
        tokenizer: a local ``tokenizer.json`` (or a folder with one) to use instead of training one.
        vocab_size: embedding rows; a new tokenizer is trained to this size.
        block_size: tokens per sequence (and the trunk's position embeddings).
        lr, weight_decay, warmup_steps: AdamW with linear warmup then cosine decay per step; biases,
            norms and embeddings' positions are not decayed (only matrices are).
    """

    tokenizer_kind: ClassVar[str] = "bpe"
    batch_format: ClassVar[str] = "causal"

    def __init__(
        self,
        tokenizer: str | None,
        vocab_size: int,
        block_size: int,
        lr: float,
        weight_decay: float,
        warmup_steps: int,
    ) -> None:
        super().__init__()
        require_text_extra(type(self).__name__)
        check_count("vocab_size", vocab_size, minimum=64)
        check_count("block_size", block_size, minimum=8)
        check_positive("lr", lr, 3e-4)
        check_non_negative("weight_decay", weight_decay, 0.01)
        check_count("warmup_steps", warmup_steps, minimum=0)
        self.tokenizer: TextTokenizer | None = load_tokenizer(tokenizer) if tokenizer else None

    # data ------------------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        datamodule = self._datamodule()
        if self.tokenizer is None:  # a resumed run restores the saved one in on_load_checkpoint
            self.tokenizer = self._train_tokenizer(datamodule)
        self._attach(datamodule)

    def _train_tokenizer(self, datamodule: TextDataModule) -> TextTokenizer:
        """Trained by the first process and sent to the others, so every DDP rank has the very same ids."""
        trained = None
        if self.trainer.is_global_zero:
            kind, size = self.tokenizer_kind, self.hparams.vocab_size
            trained = train_tokenizer(kind, datamodule.tokenizer_corpus(), size).to_str()
        return TextTokenizer.from_str(self.trainer.strategy.broadcast(trained, src=0))

    def _datamodule(self) -> TextDataModule | None:
        trainer = self._trainer
        datamodule = getattr(trainer, "datamodule", None) if trainer is not None else None
        if trainer is not None and not isinstance(datamodule, TextDataModule):
            raise LeydenConfigError(
                f"{type(self).__name__} reads text, but the run's data is {type(datamodule).__name__}",
                "use --data TextDataModule (source: stdlib, folder, aclimdb or table)",
            )
        return datamodule

    def _attach(self, datamodule: TextDataModule | None) -> None:
        if datamodule is None or self.tokenizer is None:
            return
        if self.tokenizer.vocab_size > self.embedding_rows():
            raise LeydenConfigError(
                f"the tokenizer has {self.tokenizer.vocab_size} tokens but the model embeds {self.embedding_rows()}",
                f"set vocab_size >= {self.tokenizer.vocab_size}",
            )
        datamodule.attach(self.tokenizer, self.batch_format, self.hparams.block_size, **self.attach_options())

    def attach_options(self) -> dict[str, Any]:
        return {}

    def embedding_rows(self) -> int:
        return self.net.trunk.get_input_embeddings().num_embeddings

    # checkpoint ------------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = {
            "tokenizer": self.tokenizer.to_str() if self.tokenizer is not None else None,
            "trunk_config": self.net.trunk.config.to_dict(),
        }
        checkpoint["export_with"] = EXPORTER

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        saved = checkpoint.get(CHECKPOINT_KEY, {}).get("tokenizer")
        if saved is not None:
            self.tokenizer = TextTokenizer.from_str(saved)
            self._attach(self._datamodule())

    # optimisation ----------------------------------------------------------------------------------
    def parameter_groups(self) -> list[dict[str, Any]]:
        """Weight decay on matrices only (not biases, norms or the position table's rows)."""
        trainable = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        decay = [p for n, p in trainable if p.ndim > 1 and "wpe" not in n and "position" not in n]
        ids = {id(p) for p in decay}
        rest = [p for _, p in trainable if id(p) not in ids]
        return [
            {"params": decay, "weight_decay": self.hparams.weight_decay},
            {"params": rest, "weight_decay": 0.0},
        ]

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.AdamW(self.parameter_groups(), lr=self.hparams.lr, betas=(0.9, 0.98))
        total = max(1, int(self.trainer.estimated_stepping_batches))
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, warmup_cosine(self.hparams.warmup_steps, total)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
