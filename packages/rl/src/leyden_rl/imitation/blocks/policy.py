"""The demonstration-conditioned block-stacking policy (Duan et al., 2017, §4.2), permutation-aware.

Observations are the env's state vectors (:mod:`~leyden_rl.imitation.blocks.env`): global hand and
finger state, then one slot per block label. The network treats blocks as a *set* of tokens that
carry their label, so it works for any number of blocks up to 8 and never depends on slot order
except through the labels:

1. **block encoder** — each block's token (position relative to the hand, velocity, label one-hot,
   hand state) is refined by **neighbourhood attention** over the other blocks, scored and valued
   from their relative positions: "what is under/over/near me";
2. **demonstration network** — the same kind of encoder over every demonstration step (plus that
   step's action and time, and each block's displacement since the demo began: "I am being
   moved"); **temporal dropout** hides a random fraction of those steps in training;
3. **attention over the demonstration's time steps, per block** — each current block queries the
   demo steps of the block with its own label (and that step's summary), which yields a per-block
   task context: what happens to this block in the demo, and when;
4. **context network** — a second neighbourhood attention mixes the contexts between blocks, two
   pointer heads pick the block to move and the block to put it on (trained by the action loss and,
   in :class:`~leyden_rl.imitation.blocks.one_shot.OneShotBlockStacking`, by an auxiliary
   cross-entropy against the expert's current stage), and an MLP maps the picked
   blocks' positions (relative to the hand) and the hand state to the action.

``conditioning="none"`` replaces step 2–3 by a learned constant context (same network and data,
no task information): the no-demonstration baseline.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from leyden_core.errors import LeydenConfigError
from leyden_rl.imitation.blocks.tasks import MAX_BLOCKS
from leyden_rl.networks import mlp

CONDITIONINGS = ("demo", "none")
GLOBAL, PER_BLOCK, ACTION = 8, 6, 4
POSITION_SCALE, OPENING_SCALE = 10.0, 50.0  # metres → O(1) inputs


def split_observation(obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 8 + 6N) → global features (..., 8), block features (..., N, 6 + 8), block positions (..., N, 3).

    Positions are relative to the hand and scaled; the block features end with the label one-hot.
    """
    n = (obs.shape[-1] - GLOBAL) // PER_BLOCK
    hand, hand_vel, fingers = obs[..., :3], obs[..., 3:6], obs[..., 6:8]
    glob = torch.cat([hand * POSITION_SCALE, hand_vel, fingers * OPENING_SCALE], -1)
    blocks = obs[..., GLOBAL:].unflatten(-1, (n, PER_BLOCK))
    rel = blocks[..., :3] * POSITION_SCALE
    labels = torch.eye(MAX_BLOCKS, dtype=obs.dtype, device=obs.device)[:n].expand(
        *blocks.shape[:-1], MAX_BLOCKS
    )
    return glob, torch.cat([rel, blocks[..., 3:], labels], -1), rel


class NeighbourhoodAttention(nn.Module):
    """Each block attends over the *other* blocks; scores and values see the pair's relative position.

    Permutation-equivariant in the blocks: the output of block i depends on the set of others only.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.score = mlp(2 * width + 4, (width,), 1, "relu")
        self.value = mlp(width + 4, (width,), width, "relu")
        self.norm = nn.LayerNorm(width)

    def forward(self, tokens: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """tokens (..., N, W), positions (..., N, 3) → (..., N, W)."""
        n = tokens.shape[-2]
        offset = positions[..., None, :, :] - positions[..., :, None, :]  # (..., i, j, 3): j relative to i
        pair = torch.cat([offset, offset.norm(dim=-1, keepdim=True)], -1)
        mine = tokens[..., :, None, :].expand(*tokens.shape[:-2], n, n, tokens.shape[-1])
        theirs = tokens[..., None, :, :].expand_as(mine)
        scores = self.score(torch.cat([mine, theirs, pair], -1)).squeeze(-1)
        scores = scores.masked_fill(torch.eye(n, dtype=torch.bool, device=tokens.device), float("-inf"))
        values = self.value(torch.cat([theirs, pair], -1))
        return self.norm(tokens + (scores.softmax(-1).unsqueeze(-1) * values).sum(-2))


class BlockEncoder(nn.Module):
    """Block tokens (..., N, W) and a step summary (..., W) from observations (and any extra global input)."""

    def __init__(self, width: int, extra: int = 0, extra_per_block: int = 0) -> None:
        super().__init__()
        self.embed = mlp(PER_BLOCK + MAX_BLOCKS + GLOBAL + extra + extra_per_block, (width,), width, "relu")
        self.neighbours = NeighbourhoodAttention(width)
        self.pool_score = nn.Linear(width, 1)

    def forward(
        self,
        obs: torch.Tensor,
        extra: torch.Tensor | None = None,
        extra_per_block: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        glob, blocks, rel = split_observation(obs)
        if extra is not None:
            glob = torch.cat([glob, extra], -1)
        if extra_per_block is not None:
            blocks = torch.cat([blocks, extra_per_block], -1)
        tokens = self.embed(torch.cat([blocks, glob[..., None, :].expand(*blocks.shape[:-1], -1)], -1))
        tokens = self.neighbours(tokens, rel)
        summary = (self.pool_score(tokens).softmax(-2) * tokens).sum(-2)
        return tokens, summary


class BlockStackingPolicy(nn.Module):
    """π(a | o, demo). Shapes: obs (B, T, 8 + 6N); demo_obs (B, Td, 8 + 6N); demo_actions (B, Td, 4);
    demo_mask (B, Td) True where the step exists. Returns action means (B, T, 4)."""

    def __init__(self, conditioning: str = "demo", width: int = 64) -> None:
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise LeydenConfigError(f"unknown conditioning {conditioning!r}", f"use one of {CONDITIONINGS}")
        self.conditioning, self.width = conditioning, width
        self.encoder = BlockEncoder(width)
        if conditioning == "demo":  # only what this conditioning uses, so DDP finds no unused parameters
            # + the step's action and time, and each block's displacement since the demo began
            self.demo_encoder = BlockEncoder(width, extra=ACTION + 1, extra_per_block=3)
            self.query = nn.Linear(2 * width, width)
            self.key, self.value = nn.Linear(2 * width, width), nn.Linear(2 * width, width)
        else:
            self.no_task = nn.Parameter(torch.zeros(width))
        self.combine = mlp(2 * width, (width,), width, "relu")
        self.relate = NeighbourhoodAttention(width)
        self.pick, self.place = nn.Linear(width, 1), nn.Linear(width, 1)
        self.action_head = mlp(3 + 3 + GLOBAL + 2 * width, (width, width), ACTION, "relu")

    def encode_demo(
        self, demo_obs: torch.Tensor, demo_actions: torch.Tensor, demo_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Keys and values per demo step and block (B, Td, N, W) and the mask (B, Td): computed once per demo."""
        steps = torch.arange(demo_obs.shape[1], device=demo_obs.device, dtype=demo_obs.dtype)
        last = (demo_mask.sum(1, keepdim=True) - 1).clamp(min=1).to(demo_obs.dtype)
        time = (steps / last)[..., None]
        _, _, rel = split_observation(demo_obs)
        absolute = rel + demo_obs[..., None, :3] * POSITION_SCALE
        moved = absolute - absolute[:, :1]  # each block's displacement since the demo's start
        tokens, summary = self.demo_encoder(demo_obs, torch.cat([demo_actions, time], -1), moved)
        both = torch.cat([tokens, summary[..., None, :].expand_as(tokens)], -1)
        return self.key(both), self.value(both), demo_mask

    def forward(
        self, obs: torch.Tensor, demo: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        pointers: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
        """``demo``: :meth:`encode_demo`'s output (ignored with ``conditioning="none"``). With
        ``pointers`` also the logits (B, T, 2, N) of the block to move and the block to put it on."""
        glob, _, rel = split_observation(obs)
        tokens, summary = self.encoder(obs)  # (B, T, N, W), (B, T, W)
        if self.conditioning == "demo":
            keys, values, mask = demo
            q = self.query(torch.cat([tokens, summary[..., None, :].expand_as(tokens)], -1))
            scores = torch.einsum("btnw,bsnw->btns", q, keys) / math.sqrt(self.width)
            scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
            context = torch.einsum("btns,bsnw->btnw", scores.softmax(-1), values)
        else:
            context = self.no_task.expand_as(tokens)
        z = self.relate(self.combine(torch.cat([tokens, context], -1)), rel)
        logits = torch.stack([self.pick(z).squeeze(-1), self.place(z).squeeze(-1)], -2)  # (B, T, 2, N)
        pick, place = logits.softmax(-1).unbind(-2)
        picked = (pick.unsqueeze(-1) * rel).sum(-2)
        target = (place.unsqueeze(-1) * rel).sum(-2)
        picked_z = (pick.unsqueeze(-1) * z).sum(-2)
        target_z = (place.unsqueeze(-1) * z).sum(-2)
        actions = self.action_head(torch.cat([picked, target, glob, picked_z, target_z], -1))
        return (actions, logits) if pointers else actions


def temporal_dropout(
    mask: torch.Tensor, rate: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Hide each present demo step with probability ``rate``; each demo keeps at least its last step."""
    if rate <= 0:
        return mask
    keep = torch.rand(mask.shape, generator=generator, device=mask.device) >= rate
    last = mask.long().cumsum(1).argmax(1)  # index of the last present step
    keep[torch.arange(len(mask), device=mask.device), last] = True
    return mask & keep
