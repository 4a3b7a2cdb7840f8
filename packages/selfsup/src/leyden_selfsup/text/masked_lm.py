"""BERT-style pretraining (Devlin et al., 2019): recover masked tokens, and optionally the order of two segments.

    for each sequence [CLS] A [SEP] B [SEP] (or a packed block [CLS] ... [SEP]):
        choose 15% of the non-special tokens; replace 80% of them by [MASK], 10% by a random token,
        keep 10%                                     # so the model cannot trust unmasked tokens either
        h = BERT(corrupted)                           # bidirectional self-attention (SDPA kernel)
        loss = mean over chosen t of -log p(x_t | corrupted)        # output layer tied to the embedding
             + pair_task: -log p(order | pooled h_[CLS])           # sop (ALBERT) or nsp (BERT)

Validation reports ``val/mlm_loss``, ``val/mlm_accuracy`` (of the chosen tokens) and, with a pair
task, ``val/pair_accuracy``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import MulticlassAccuracy

from leyden_core.checks import check_choice, check_fraction
from leyden_selfsup.text.base import TextModule
from leyden_selfsup.text.losses import IGNORE, mask_tokens, masked_token_loss
from leyden_selfsup.text.trunks import TextMultiHeadNet, build_trunk, token_embedding, trunk_config

PAIR_TASKS = ("none", "sop", "nsp")


class MaskedLMHead(nn.Module):
    """BERT's prediction head: dense -> GELU -> LayerNorm -> the (tied) embedding matrix, plus a bias."""

    def __init__(self, embedding: nn.Embedding, eps: float = 1e-12) -> None:
        super().__init__()
        hidden = embedding.embedding_dim
        self.transform = nn.Sequential(nn.Linear(hidden, hidden), nn.GELU(), nn.LayerNorm(hidden, eps=eps))
        self.decoder = nn.Linear(hidden, embedding.num_embeddings)
        self.decoder.weight = embedding.weight

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden))


class MaskedLMPretraining(TextModule):
    """Masked-token prediction (15%, 80/10/10) on a BERT trunk, with sentence-order or next-sentence prediction.

    Args:
        hidden_size, num_layers, num_heads, dropout: the BERT trunk (randomly initialised).
        mask_prob: fraction of tokens chosen as targets.
        pair_task: ``sop`` (sentence order, ALBERT), ``nsp`` (next sentence, BERT) or ``none``
            (packed blocks; the trunk's pooler is then frozen, as nothing trains it).
        (tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps: see ``TextModule``.)
    """

    tokenizer_kind = "wordpiece"

    def __init__(
        self,
        vocab_size: int = 4096,
        block_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        mask_prob: float = 0.15,
        pair_task: str = "sop",
        lr: float = 1e-3,
        weight_decay: float = 0.01,
        warmup_steps: int = 100,
        tokenizer: str | None = None,
    ) -> None:
        super().__init__(tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps)
        check_fraction("dropout", dropout, 0.1, include_one=False)
        check_fraction("mask_prob", mask_prob, 0.15, include_one=False)
        check_choice("pair_task", pair_task, PAIR_TASKS)
        self.save_hyperparameters()
        config = trunk_config("bert", vocab_size, block_size, hidden_size, num_layers, num_heads, dropout)
        self.net = TextMultiHeadNet(build_trunk(config))
        self.net.add_head("mlm", MaskedLMHead(token_embedding(self.net.trunk), config.layer_norm_eps))
        if pair_task == "none":
            self.net.trunk.pooler.requires_grad_(False)
        else:
            self.net.add_linear_head("pair", 2)
        self.val_mlm_accuracy = MulticlassAccuracy(vocab_size, average="micro", ignore_index=IGNORE)
        self.val_pair_accuracy = MulticlassAccuracy(2, average="micro")

    @property
    def batch_format(self) -> str:  # type: ignore[override]
        return "masked" if self.hparams.pair_task == "none" else "masked_pairs"

    def attach_options(self) -> dict[str, Any]:
        return {"pair_task": self.hparams.pair_task} if self.hparams.pair_task != "none" else {}

    def _losses(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None, dict]:
        ids, attention = batch["input_ids"], batch.get("attention_mask")
        specials = torch.tensor(self.tokenizer.special_ids, device=ids.device)
        corrupted, targets = mask_tokens(
            ids,
            ~torch.isin(ids, specials),
            self.tokenizer.mask_id,
            self.tokenizer.vocab_size,
            self.hparams.mask_prob,
        )
        hidden = self.net.features(corrupted, attention, batch.get("token_type_ids"))
        logits = self.net.heads["mlm"](hidden)
        outputs = {"logits": logits, "targets": targets}
        pair_loss = None
        if self.hparams.pair_task != "none":
            pair_logits = self.net.heads["pair"](self.net.trunk.pooler(hidden))
            pair_loss = F.cross_entropy(pair_logits, batch["pair_label"])
            outputs["pair_logits"] = pair_logits
        return masked_token_loss(logits, targets), pair_loss, outputs

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        mlm_loss, pair_loss, _ = self._losses(batch)
        loss = mlm_loss if pair_loss is None else mlm_loss + pair_loss
        self.log("train/mlm_loss", mlm_loss)
        if pair_loss is not None:
            self.log("train/pair_loss", pair_loss)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        mlm_loss, pair_loss, out = self._losses(batch)
        self.val_mlm_accuracy.update(out["logits"].flatten(0, 1), out["targets"].flatten())
        self.log("val/mlm_loss", mlm_loss, sync_dist=True)
        self.log("val/mlm_accuracy", self.val_mlm_accuracy, prog_bar=True)
        if pair_loss is not None:
            self.val_pair_accuracy.update(out["pair_logits"], batch["pair_label"])
            self.log("val/pair_accuracy", self.val_pair_accuracy)
