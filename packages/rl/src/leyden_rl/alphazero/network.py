"""AlphaZero's residual policy/value network and its loss.

The tower is AlphaGo Zero's (Silver et al., 2017): a 3×3 convolution stem, ``blocks`` residual
blocks of two 3×3 convolutions with batch norm, then a policy head (1×1 conv → linear over moves,
logits) and a value head (1×1 conv → hidden layer → tanh, in [-1, 1], player to move's view).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _conv_bn(in_channels: int, out_channels: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
    )


class ResidualBlock(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.first, self.second = _conv_bn(channels, channels, 3), _conv_bn(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.second(F.relu(self.first(x))))


class PolicyValueNet(nn.Module):
    """``forward(planes) -> (policy logits (B, num_actions), value (B,))``.

    Args:
        observation_shape: (channels, height, width) of the game's canonical planes.
        num_actions: size of the game's move space.
        blocks, channels: depth and width of the residual tower.
        value_hidden: width of the value head's hidden layer.
    """

    def __init__(
        self,
        observation_shape: tuple[int, int, int],
        num_actions: int,
        blocks: int = 4,
        channels: int = 64,
        value_hidden: int = 64,
    ) -> None:
        super().__init__()
        planes, height, width = observation_shape
        cells = height * width
        self.stem = nn.Sequential(_conv_bn(planes, channels, 3), nn.ReLU())
        self.tower = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.policy_head = nn.Sequential(
            _conv_bn(channels, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * cells, num_actions)
        )
        self.value_head = nn.Sequential(
            _conv_bn(channels, 1, 1), nn.ReLU(), nn.Flatten(),
            nn.Linear(cells, value_hidden), nn.ReLU(), nn.Linear(value_hidden, 1), nn.Tanh(),
        )  # fmt: skip

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.tower(self.stem(planes))
        return self.policy_head(features), self.value_head(features).squeeze(-1)


def alphazero_loss(
    logits: torch.Tensor, value: torch.Tensor, target_policy: torch.Tensor, target_value: torch.Tensor
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``(z - v)² - π·log p`` averaged over the batch (weight decay is the optimizer's); returns the parts too."""
    value_loss = F.mse_loss(value, target_value)
    policy_loss = -(target_policy * F.log_softmax(logits, -1)).sum(-1).mean()
    loss = value_loss + policy_loss
    return loss, {
        "loss": loss.detach(),
        "value_loss": value_loss.detach(),
        "policy_loss": policy_loss.detach(),
    }
