"""Transfer to a labeled text task: a pretrained trunk, a new linear head, frozen or fine-tuned.

    h = trunk(x)                                      # from a Leyden checkpoint, a transformers folder, or new
    logits = W · pool(h)                              # mean over tokens, [CLS] (first) or the last token
    loss = cross-entropy(logits, y)

``finetune``: ``frozen`` trains the head alone (a linear probe on the trunk's features), ``top_layers``
also the top ``trainable_layers`` transformer blocks (and the final norm), ``full`` everything.
``keep_pretraining_head`` carries the checkpoint's pretraining head along (untrained), so the same
network still predicts tokens beside the new task.

The class names travel in the checkpoint with the tokenizer, so ``leyden predict`` names the class
of each raw text (the DataModule's ``prompts``/``prompts_file``, or its test split) with the
probability of every class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from leyden_core.checks import check_choice, check_count, check_fraction
from leyden_core.errors import LeydenConfigError
from leyden_selfsup.text.base import CHECKPOINT_KEY, TextModule
from leyden_selfsup.text.data import classification_inputs
from leyden_selfsup.text.masked_lm import MaskedLMHead
from leyden_selfsup.text.tokenizer import TextTokenizer, load_tokenizer
from leyden_selfsup.text.trunks import (
    ARCHS,
    POOLINGS,
    TextMultiHeadNet,
    build_trunk,
    config_from_dict,
    load_trunk,
    pool,
    transformer_blocks,
    trunk_config,
)

FINETUNE = ("frozen", "top_layers", "full")
TRUNK_PREFIX = "net.trunk."


def load_pretrained(path: str | Path) -> tuple[torch.nn.Module, TextTokenizer, dict[str, torch.Tensor]]:
    """(trunk, tokenizer, pretraining heads' weights) from a Leyden ``.ckpt`` or a ``save_pretrained`` folder."""
    source = Path(path).expanduser()
    if source.is_dir():
        return load_trunk(source), load_tokenizer(source), {}
    if not source.is_file():
        raise LeydenConfigError(
            f"pretrained trunk not found at {source.resolve()}",
            "pass a Leyden checkpoint (.ckpt) of CausalLMPretraining/MaskedLMPretraining or an exported folder",
        )
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    saved = checkpoint.get(CHECKPOINT_KEY)
    if not saved or not saved.get("tokenizer"):
        raise LeydenConfigError(
            f"{source} is not a Leyden text checkpoint", "pass one written by a text method"
        )
    state = checkpoint["state_dict"]
    trunk = build_trunk(config_from_dict(saved["trunk_config"]))
    trunk.load_state_dict({k[len(TRUNK_PREFIX) :]: v for k, v in state.items() if k.startswith(TRUNK_PREFIX)})
    heads = {k: v for k, v in state.items() if k.startswith("net.heads.")}
    return trunk, TextTokenizer.from_str(saved["tokenizer"]), heads


class TextClassifier(TextModule):
    """A new classification head on a pretrained (or new) text trunk.

    Args:
        num_classes: classes of the task (the DataModule's must match).
        pretrained: a Leyden text checkpoint or a ``transformers`` folder; ``None`` trains a new trunk
            of ``arch`` (``gpt2`` or ``bert``) with the size arguments below, from scratch.
        finetune, trainable_layers: what trains besides the head (``frozen``, ``top_layers``, ``full``).
        pooling: ``mean`` (over real tokens), ``first`` ([CLS]) or ``last`` (the last real token).
        head_lr: the head's learning rate (default: ``lr``).
        keep_pretraining_head: keep the checkpoint's pretraining head(s) on the trunk (not trained).
        (tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps: see ``TextModule``; with
        ``pretrained`` the tokenizer and vocabulary are the pretrained ones.)
    """

    batch_format = "classification"

    def __init__(
        self,
        num_classes: int = 9,
        pretrained: str | None = None,
        arch: str = "gpt2",
        finetune: str = "full",
        trainable_layers: int = 1,
        pooling: str = "mean",
        vocab_size: int = 4096,
        block_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        lr: float = 1e-4,
        head_lr: float | None = None,
        weight_decay: float = 0.01,
        warmup_steps: int = 0,
        tokenizer: str | None = None,
        keep_pretraining_head: bool = False,
    ) -> None:
        super().__init__(tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps)
        check_count("num_classes", num_classes, minimum=2)
        check_choice("arch", arch, ARCHS)
        check_choice("finetune", finetune, FINETUNE)
        check_choice("pooling", pooling, POOLINGS)
        check_count("trainable_layers", trainable_layers, minimum=0)
        check_fraction("dropout", dropout, 0.1, include_one=False)
        self.save_hyperparameters()
        heads: dict[str, torch.Tensor] = {}
        if pretrained:
            trunk, self.tokenizer, heads = load_pretrained(pretrained)
        else:
            config = trunk_config(arch, vocab_size, block_size, hidden_size, num_layers, num_heads, dropout)
            trunk = build_trunk(config)
        self.tokenizer_kind = "bpe" if trunk.config.model_type == "gpt2" else "wordpiece"
        self.net = TextMultiHeadNet(trunk)
        if keep_pretraining_head and heads:
            self._keep_heads(heads)
        self.net.add_linear_head("task", num_classes)
        self._choose_trainable()
        self.train_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.test_accuracy = MulticlassAccuracy(num_classes, average="micro")
        self.class_names: tuple[str, ...] = ()

    def _keep_heads(self, heads: dict[str, torch.Tensor]) -> None:
        """Rebuild the pretraining heads from their weights (tied matrices re-tied), frozen."""
        embedding = self.net.trunk.get_input_embeddings()
        if any(k.startswith("net.heads.mlm.") for k in heads):
            head = self.net.add_head("mlm", MaskedLMHead(embedding, self.net.trunk.config.layer_norm_eps))
            head.load_state_dict(
                {k[len("net.heads.mlm.") :]: v for k, v in heads.items() if k.startswith("net.heads.mlm.")}
            )
        elif "net.heads.lm.weight" in heads:
            head = self.net.add_head(
                "lm", torch.nn.Linear(self.net.feature_dim, embedding.num_embeddings, bias=False)
            )
            head.weight = embedding.weight
        for name in ("mlm", "lm"):
            if name in self.net.heads:
                for parameter in self.net.heads[name].parameters():
                    if parameter is not embedding.weight:
                        parameter.requires_grad_(False)

    def _choose_trainable(self) -> None:
        hp, trunk = self.hparams, self.net.trunk
        if hp.finetune == "full":
            trainable = [trunk]
        else:
            blocks = transformer_blocks(trunk)
            top = list(blocks)[len(blocks) - hp.trainable_layers :] if hp.finetune == "top_layers" else []
            trainable = [*top, *(m for m in (getattr(trunk, "ln_f", None),) if m is not None and top)]
        trunk.requires_grad_(False)
        for module in trainable:
            module.requires_grad_(True)
        if hasattr(trunk, "pooler") and trunk.pooler is not None:
            trunk.pooler.requires_grad_(False)  # the head reads pooled hidden states, not BERT's pooler
        if hp.finetune == "frozen":
            self.net.freeze_trunk()  # also no dropout in the trunk

    def setup(self, stage: str) -> None:
        super().setup(stage)
        datamodule = self._datamodule()
        if datamodule is not None and datamodule.num_classes != self.hparams.num_classes:
            raise LeydenConfigError(
                f"the data has {datamodule.num_classes} classes but num_classes is {self.hparams.num_classes}",
                f"set num_classes: {datamodule.num_classes}",
            )
        if datamodule is not None and not self.class_names:  # a checkpoint's names are restored after setup
            self.class_names = tuple(datamodule.class_names)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint[CHECKPOINT_KEY]["class_names"] = list(self.class_names)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        saved = checkpoint.get(CHECKPOINT_KEY, {}).get("class_names")
        if saved:
            self.class_names = tuple(saved)

    def logits(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.net.features(batch["input_ids"], batch["attention_mask"])
        return self.net.heads["task"](pool(hidden, batch["attention_mask"], self.hparams.pooling))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        logits = self.logits(batch)
        loss = F.cross_entropy(logits, batch["label"])
        self.train_accuracy.update(logits, batch["label"])
        self.log("train/loss", loss, prog_bar=True)
        self.log("train/accuracy", self.train_accuracy, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.val_accuracy.update(self.logits(batch), batch["label"])
        self.log("val/accuracy", self.val_accuracy, prog_bar=True)

    def test_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self.test_accuracy.update(self.logits(batch), batch["label"])
        self.log("test/accuracy", self.test_accuracy)

    @torch.no_grad()
    def classify(self, texts: list[str]) -> list[dict[str, Any]]:
        """Each text's most likely class (``label``), its ``probability`` and every class's
        (``probabilities``, by name), from the softmax of the head's logits."""
        was_training = self.training
        self.eval()
        inputs = classification_inputs(texts, self.tokenizer, self.hparams.block_size)
        logits = self.logits({k: v.to(self.device) for k, v in inputs.items()})
        self.train(was_training)
        probabilities = logits.float().softmax(-1).cpu()
        names = self.class_names or tuple(str(i) for i in range(self.hparams.num_classes))
        return [
            {
                "text": text,
                "label": names[int(row.argmax())],
                "probability": float(row.max()),
                "probabilities": dict(zip(names, row.tolist())),
            }
            for text, row in zip(texts, probabilities)
        ]

    def predict_step(self, batch: list[str], batch_idx: int) -> list[dict[str, Any]]:
        """``leyden predict``: each text's class, printed as ``label<TAB>probability<TAB>text`` (the text
        on one line, cut to 100 characters) and returned with every class's probability."""
        outputs = self.classify(batch)
        for output in outputs:
            text = " ".join(output["text"].split())
            print(f"{output['label']}\t{output['probability']:.3f}\t{text[:100]}", flush=True)
        return outputs

    def parameter_groups(self) -> list[dict]:
        groups = super().parameter_groups()
        head = {id(p) for p in self.net.heads["task"].parameters()}
        head_lr = self.hparams.head_lr or self.hparams.lr
        split = []
        for group in groups:
            params = group["params"]
            split.append({**group, "params": [p for p in params if id(p) not in head]})
            split.append({**group, "params": [p for p in params if id(p) in head], "lr": head_lr})
        return [g for g in split if g["params"]]
