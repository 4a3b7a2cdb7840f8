"""GPT-style pretraining (Radford et al., 2018/2019): predict every next token of packed text.

    for each block x_1..x_T of the packed training stream (documents joined by end-of-text):
        h_1..h_T = GPT2(x_1..x_T)                    # causal self-attention (SDPA kernel)
        logits_t = h_t · E^T                         # the output layer is the token embedding E (tied)
        loss = mean_t  -log p(x_{t+1} | x_<=t)

Validation reports ``val/loss`` and ``val/perplexity`` (exp of the token-weighted mean loss, exact
under DDP). After each validation a few continuations of fixed prompts go to W&B as a table.
:meth:`generate` samples with temperature and top-k; ``leyden predict`` continues the DataModule's
``prompts``. Under Lightning's ``ModelParallelStrategy`` the weights are sharded per transformer
block (FSDP2, see :mod:`leyden_selfsup.text.sharding`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torchmetrics import MeanMetric

from leyden_core.checks import check_count, check_fraction, check_non_negative
from leyden_core.wandb_logging import log_table
from leyden_selfsup.text.base import TextModule
from leyden_selfsup.text.losses import next_token_loss
from leyden_selfsup.text.sharding import data_parallel_mesh, is_sharded, shard_text_net
from leyden_selfsup.text.trunks import TextMultiHeadNet, build_trunk, token_embedding, trunk_config

SAMPLE_PROMPTS = ("The ", "Return the ", "This module ")


class CausalLMPretraining(TextModule):
    """Next-token prediction with a weight-tied output layer on a GPT-2 trunk.

    Args:
        hidden_size, num_layers, num_heads, dropout: the GPT-2 trunk (randomly initialised).
        num_samples: continuations logged to W&B after each validation (0: none).
        sample_tokens, temperature, top_k: of those samples and of ``leyden predict``.
        (tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps: see ``TextModule``.)
    """

    tokenizer_kind = "bpe"
    batch_format = "causal"

    def __init__(
        self,
        vocab_size: int = 4096,
        block_size: int = 128,
        hidden_size: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        dropout: float = 0.1,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        warmup_steps: int = 100,
        tokenizer: str | None = None,
        num_samples: int = 2,
        sample_tokens: int = 40,
        temperature: float = 0.8,
        top_k: int = 40,
    ) -> None:
        super().__init__(tokenizer, vocab_size, block_size, lr, weight_decay, warmup_steps)
        check_fraction("dropout", dropout, 0.1, include_one=False)
        check_count("num_samples", num_samples, minimum=0)
        check_count("top_k", top_k, minimum=0)
        check_non_negative("temperature", temperature, 0.8)
        self.save_hyperparameters()
        config = trunk_config("gpt2", vocab_size, block_size, hidden_size, num_layers, num_heads, dropout)
        self.net = TextMultiHeadNet(build_trunk(config))
        head = self.net.add_head("lm", nn.Linear(hidden_size, vocab_size, bias=False))
        head.weight = token_embedding(self.net.trunk).weight  # weight tying: one matrix in and out
        self.val_loss = MeanMetric()

    def configure_model(self) -> None:
        """Shard the weights per transformer block when the strategy is ``ModelParallelStrategy``
        (its device mesh is set); any other strategy leaves the network as it is."""
        mesh = self._device_mesh
        if mesh is not None and not is_sharded(self.net):
            shard_text_net(self.net, data_parallel_mesh(mesh, type(self).__name__))

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        ids = batch["input_ids"]
        loss = next_token_loss(self.net(ids, head="lm"), ids)
        self.log("train/loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        ids = batch["input_ids"]
        loss = next_token_loss(self.net(ids, head="lm"), ids)
        self.val_loss.update(loss, weight=ids[:, 1:].numel())

    def on_validation_epoch_end(self) -> None:
        loss = self.val_loss.compute()
        self.val_loss.reset()
        self.log("val/loss", loss, sync_dist=False)
        self.log("val/perplexity", loss.exp(), prog_bar=True, sync_dist=False)
        if self.hparams.num_samples and not self.trainer.sanity_checking:
            self._log_samples()

    def _log_samples(self) -> None:
        """Every process generates (a sharded network gathers its weights from all of them in each
        forward); the first one logs."""
        prompts = SAMPLE_PROMPTS[: self.hparams.num_samples]
        rows = [[self.global_step, p, self.generate(p, self.hparams.sample_tokens)] for p in prompts]
        if self.trainer.is_global_zero:
            log_table(self.trainer, "samples", ["step", "prompt", "continuation"], rows)

    @torch.no_grad()
    def generate(
        self,
        prompt: str,
        max_new_tokens: int = 40,
        temperature: float | None = None,
        top_k: int | None = None,
        generator: torch.Generator | None = None,
    ) -> str:
        """Continue ``prompt`` token by token: softmax(logits / temperature) over the ``top_k`` most
        likely tokens (temperature 0: the most likely one). Returns the continuation only."""
        temperature = self.hparams.temperature if temperature is None else temperature
        top_k = self.hparams.top_k if top_k is None else top_k
        was_training = self.training
        self.eval()
        ids = self.tokenizer.encode([prompt])[0] or [self.tokenizer.eos_id]
        tokens = torch.tensor([ids], device=self.device)
        for _ in range(max_new_tokens):
            logits = self.net(tokens[:, -self.hparams.block_size :], head="lm")[0, -1].float()
            if temperature == 0:
                next_id = logits.argmax()
            else:
                if top_k:
                    cutoff = logits.topk(min(top_k, len(logits))).values[-1]
                    logits = logits.masked_fill(logits < cutoff, float("-inf"))
                next_id = torch.multinomial((logits / temperature).softmax(-1), 1, generator=generator)[0]
            tokens = torch.cat([tokens, next_id.view(1, 1)], dim=1)
        self.train(was_training)
        return self.tokenizer.decode(tokens[0, len(ids) :].tolist())

    def predict_step(self, batch: list[str], batch_idx: int) -> list[dict[str, Any]]:
        """``leyden predict``: a continuation of each prompt, printed and returned."""
        outputs = [{"prompt": p, "continuation": self.generate(p, self.hparams.sample_tokens)} for p in batch]
        for output in outputs:
            print(f"{output['prompt']}{output['continuation']}", flush=True)
        return outputs
