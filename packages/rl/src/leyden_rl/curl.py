"""CURL: Contrastive Unsupervised Representations for RL (Laskin, Srinivas & Abbeel, 2020).

SAC from pixels (:class:`leyden_rl.sac.SAC`, not a copy) with three additions, each a SAC hook:

1. **Encoder** (:meth:`CURL.build_encoder`): 4 conv layers of 32 3×3 filters (first stride 2), a
   linear map to 50 features, LayerNorm, tanh. The critic's loss trains it; the actor reads its
   features detached.
2. **Random crop** (:meth:`CURL.view`): stacks are stored at 100×100; each sampled stack is cropped
   to 84×84 at its own random offset, the same offset for all its frames (so motion between frames
   survives). Acting and evaluation see the centre crop.
3. **Contrastive loss** (:meth:`CURL.auxiliary_loss`): a second random crop of the same observations
   goes through the *key* encoder, a momentum copy of the encoder (``encoder_tau``; it doubles as
   the target critic's encoder). The anchors — the critic's features of the first crop — must pick
   their own key among the batch's keys under bilinear logits ``z_aᵀ W z_k``
   (:func:`leyden_rl.losses.curl_contrastive_loss`).

Ablations are switches on this one class: ``contrastive=False`` is pixel SAC with random crop (the
"crop only" ablation; RAD/DrQ-style), ``contrastive=False, crop=False`` is plain pixel SAC (centre
crop everywhere). Replay stores each frame once (:class:`leyden_rl.frame_replay.FrameReplay`).

Under DDP each rank contrasts its own batch (negatives from its own replay), as the single-GPU
paper does; gradients are all-reduced like every other loss here, so weights stay identical.
Steps are environment steps with action repeats counted (``dmc/cartpole-swingup`` repeats 8×).
"""

from __future__ import annotations

import torch
from torch import nn

from leyden_core.ema import polyak_update
from leyden_core.errors import LeydenConfigError
from leyden_rl.buffers import ReplayBatch
from leyden_rl.frame_replay import FrameReplay
from leyden_rl.losses import curl_contrastive_loss
from leyden_rl.networks import PixelEncoder, action_dim, is_image_space
from leyden_rl.sac import SAC


def random_crop(obs: torch.Tensor, size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(N, C, H, W) → (N, C, size, size): one random window per sample, shared by all its channels."""
    n, c, h, w = obs.shape
    top = torch.randint(0, h - size + 1, (n,), generator=generator).to(obs.device)
    left = torch.randint(0, w - size + 1, (n,), generator=generator).to(obs.device)
    offsets = torch.arange(size, device=obs.device)
    rows, cols = top[:, None] + offsets, left[:, None] + offsets  # (N, size)
    flat = (rows[:, :, None] * w + cols[:, None, :]).flatten(1)  # (N, size·size) pixel indices
    return obs.flatten(2).gather(2, flat[:, None].expand(n, c, -1)).view(n, c, size, size)


def center_crop(obs: torch.Tensor, size: int) -> torch.Tensor:
    h, w = obs.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return obs[..., top : top + size, left : left + size]


class CURL(SAC):
    """CURL / pixel SAC on ``dmc/<domain>-<task>`` or ``pixels/<id>`` envs (uint8 frame stacks).

    Args (defaults: the paper's Table 3; batch 128 as in the authors' public scripts, the paper says 512):
        image_size: crop size fed to the encoder (observations are rendered larger, e.g. 100 → 84).
        features, filters: encoder output width and conv filters.
        encoder_tau: Polyak rate of the key / target encoder (``tau`` is the target critics').
        contrastive, crop: the ablation switches (see the module docstring).
        learning_starts: uniformly random env steps before the first update.
    """

    def __init__(
        self,
        env_id: str = "dmc/cartpole-swingup",
        num_envs: int = 1,
        total_env_steps: int = 100_000,
        buffer_size: int = 100_000,
        learning_starts: int = 1000,
        batch_size: int = 128,
        learning_rate: float = 1e-3,
        alpha_learning_rate: float = 1e-4,
        gamma: float = 0.99,
        tau: float = 0.01,
        encoder_tau: float = 0.05,
        target_update_interval: int = 2,
        init_alpha: float = 0.1,
        hidden_sizes: tuple[int, ...] = (1024, 1024),
        image_size: int = 84,
        features: int = 50,
        filters: int = 32,
        contrastive: bool = True,
        crop: bool = True,
        seed: int = 0,
        vectorization: str = "sync",
        env_kwargs: dict | None = None,
    ) -> None:
        if contrastive and not crop:
            raise LeydenConfigError(
                "CURL's contrastive loss needs crop=True: without two random crops anchor and key are one view",
                "set contrastive=False for pixel SAC without augmentation",
            )
        super().__init__(
            env_id=env_id, num_envs=num_envs, total_env_steps=total_env_steps, buffer_size=buffer_size,
            learning_starts=learning_starts, batch_size=batch_size, learning_rate=learning_rate,
            alpha_learning_rate=alpha_learning_rate, gamma=gamma, tau=tau,
            target_update_interval=target_update_interval, init_alpha=init_alpha, hidden_sizes=hidden_sizes,
            seed=seed, vectorization=vectorization, env_kwargs=env_kwargs,
        )  # fmt: skip
        self.contrastive_w = nn.Parameter(torch.rand(features, features)) if contrastive else None

    # -------------------------------------------------------------------- SAC hooks
    def build_encoder(self) -> PixelEncoder:
        space, size = self.observation_space, self.hparams.image_size
        if not is_image_space(space) or space.shape[0] % 3 or min(space.shape[1:]) < size:
            raise LeydenConfigError(
                f"CURL needs (3·k, H, W) uint8 frame stacks with H, W ≥ image_size={size}; "
                f"{self.env_id!r} gives {space}",
                "use a 'dmc/<domain>-<task>' or 'pixels/<id>' env, or lower image_size",
            )
        return PixelEncoder(space.shape[0], size, self.hparams.features, self.hparams.filters)

    def build_buffer(self, capacity: int) -> FrameReplay:
        shape = self.observation_space.shape
        return FrameReplay(capacity, self.num_envs, shape, shape[0] // 3, (action_dim(self.action_space),))

    def view(self, obs: torch.Tensor, train: bool) -> torch.Tensor:
        if train and self.hparams.crop:
            return random_crop(obs, self.hparams.image_size)
        return center_crop(obs, self.hparams.image_size)

    def auxiliary_loss(self, batch: ReplayBatch, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """InfoNCE between the critic's features (anchors) and key-encoder features of a second crop."""
        if self.contrastive_w is None:
            return {}
        with torch.no_grad():
            keys = self.encoder_target(random_crop(batch.obs, self.hparams.image_size))
        return {"contrastive_loss": curl_contrastive_loss(features, keys, self.contrastive_w)}

    def update_targets(self) -> None:
        super().update_targets()
        polyak_update(self.encoder_target, self.encoder, self.hparams.encoder_tau)
