"""A shared trunk with named task heads (one representation, many heads).

Self-supervised methods put a projection or pretext head on the trunk; evaluation adds a linear
head; transfer freezes the trunk and trains a new head. The trunk is exported alone as a plain
timm ``state_dict`` (``leyden export``).
"""

from __future__ import annotations

import torch
from torch import nn

from leyden_core.backbones import feature_dim


class MultiHeadNet(nn.Module):
    """``trunk`` maps inputs to ``feature_dim`` features; each head maps features to its output.

    ``feature_dim`` is what the trunk really outputs (measured by a dry forward, see
    :func:`leyden_core.backbones.feature_dim`), not what it declares.
    """

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module] | None = None) -> None:
        super().__init__()
        self.trunk = trunk
        self.feature_dim: int = feature_dim(trunk)
        self.heads = nn.ModuleDict(heads or {})

    def add_head(self, name: str, head: nn.Module) -> nn.Module:
        if name in self.heads:
            raise ValueError(f"head {name!r} exists already; heads are {sorted(self.heads)}")
        self.heads[name] = head
        return head

    def add_linear_head(self, name: str, out_features: int) -> nn.Linear:
        return self.add_head(name, nn.Linear(self.feature_dim, out_features))

    def freeze_trunk(self, frozen: bool = True) -> None:
        """Stop (or restart) training the trunk; a frozen trunk also keeps its BatchNorm statistics."""
        self.trunk.requires_grad_(not frozen)
        self.trunk.train(not frozen and self.training)
        self._trunk_frozen = frozen

    def train(self, mode: bool = True) -> MultiHeadNet:
        super().train(mode)
        if getattr(self, "_trunk_frozen", False):
            self.trunk.eval()
        return self

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x)

    def forward(self, x: torch.Tensor, head: str) -> torch.Tensor:
        return self.heads[head](self.trunk(x))

    def trunk_state_dict(self) -> dict[str, torch.Tensor]:
        """The trunk's weights with timm's key names, detached and on the CPU."""
        return {k: v.detach().cpu() for k, v in self.trunk.state_dict().items()}
