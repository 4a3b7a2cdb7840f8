"""Losses of the sim plugin (domain confusion, localization), as pure functions: tensors in, scalar
out, no state.

Domain labels: source = 1, target = 0. Logits are the discriminator's single output per sample.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def domain_adversarial_loss(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Ganin & Lempitsky (2015): binary cross-entropy of the domain discriminator, averaged over both
    domains with equal weight. Through a gradient reversal layer the features *maximize* it."""
    source = F.binary_cross_entropy_with_logits(source_logits, torch.ones_like(source_logits))
    target = F.binary_cross_entropy_with_logits(target_logits, torch.zeros_like(target_logits))
    return 0.5 * (source + target)


def domain_confusion_loss(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Tzeng et al. (2015): cross-entropy between the discriminator's prediction and the uniform
    distribution over domains; minimal when the features leave the discriminator at chance."""
    logits = torch.cat([source_logits, target_logits])
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, 0.5))


def domain_accuracy(source_logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Share of samples whose domain the discriminator gets right (0.5 = confused)."""
    correct = torch.cat([source_logits > 0, target_logits <= 0])
    return correct.float().mean()


def localization_loss(
    predicted_positions: torch.Tensor,
    positions: torch.Tensor,
    shape_logits: torch.Tensor,
    shapes: torch.Tensor,
    class_weight: float,
) -> torch.Tensor:
    """Tobin et al. (2017): squared error of the (x, y) position, plus ``class_weight`` × the
    cross-entropy of which shape the target is (a second task on the same features)."""
    position = F.mse_loss(predicted_positions, positions, reduction="none").sum(1).mean()
    return position + class_weight * F.cross_entropy(shape_logits, shapes)
