"""The text objectives as pure functions: tensors in, a scalar (or masked tensors) out."""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100  # the target of positions that carry no loss (cross_entropy's ignore_index)


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """GPT's objective: position t predicts token t + 1 (mean over every predicted token)."""
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), input_ids[:, 1:].flatten())


def mask_tokens(
    input_ids: torch.Tensor,
    maskable: torch.Tensor,
    mask_id: int,
    vocab_size: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's corruption: choose ``mask_prob`` of the ``maskable`` tokens as targets; of those, 80%
    become ``mask_id``, 10% a random token and 10% stay. Returns (corrupted ids, targets with
    ``IGNORE`` everywhere but the chosen positions)."""

    def uniform() -> torch.Tensor:
        return torch.rand(input_ids.shape, device=input_ids.device, generator=generator)

    chosen = (uniform() < mask_prob) & maskable
    targets = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE))
    draw = uniform()
    to_mask = chosen & (draw < 0.8)
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)
    random_ids = torch.randint(vocab_size, input_ids.shape, device=input_ids.device, generator=generator)
    corrupted = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    return torch.where(to_random, random_ids, corrupted), targets


def masked_token_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy on the chosen positions only (zero, with a gradient, if none was chosen)."""
    if not (targets != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE)
