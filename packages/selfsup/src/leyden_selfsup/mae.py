"""MAE (He et al. 2022): hide most patches of an image; a ViT encodes the rest, a light decoder paints the gaps.

for each batch x:
    x = augment(x)                                         # crop and flip only
    tokens = patch_embed(x) + pos_embed                    # one token per patch
    keep a random 25% of each image's tokens               # 75% masked, a fresh choice per sample
    latent = vit_blocks([cls, visible tokens])             # the encoder never sees a mask token
    full = unshuffle([decoder_embed(latent), mask_tokens]) + decoder_pos_embed
    prediction = decoder(full)                             # pixels of every patch
    loss = mse(prediction, normalize_per_patch(patches(x)))   on the masked patches only

The encoder is the timm ViT itself (``net.trunk``): the online probe, kNN, linear evaluation and
``leyden export`` read its pooled features of whole, unmasked images.
"""

from __future__ import annotations

from typing import Any

import torch
from timm.layers import build_sincos2d_pos_embed
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from leyden_core.checks import check_count, check_fraction
from leyden_core.errors import LeydenConfigError
from leyden_core.wandb_logging import log_image_grid, wandb_loggers
from leyden_selfsup.base import SelfSupervisedModule
from leyden_selfsup.losses import masked_patch_loss


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """(N, C, H, W) → (N, L, patch² · C), patches in row-major order, as the ViT's patch embedding."""
    n, c, h, w = images.shape
    x = images.reshape(n, c, h // patch, patch, w // patch, patch)
    return torch.einsum("nchpwq->nhwpqc", x).reshape(n, (h // patch) * (w // patch), patch * patch * c)


def unpatchify(patches: torch.Tensor, patch: int, channels: int) -> torch.Tensor:
    """Inverse of :func:`patchify` for square images."""
    n, length, _ = patches.shape
    side = int(round(length**0.5))
    x = patches.reshape(n, side, side, patch, patch, channels)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(n, channels, side * patch, side * patch)


class MAEDecoder(nn.Module):
    """Encoded visible tokens + mask tokens, put back in place, → transformer blocks → pixels per patch."""

    def __init__(
        self, encoder_dim: int, grid: tuple[int, int], dim: int, depth: int, heads: int, patch_pixels: int
    ) -> None:
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.register_buffer("pos_embed", build_sincos2d_pos_embed(list(grid), dim)[None], persistent=False)
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio=4.0, qkv_bias=True) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim)
        self.prediction = nn.Linear(dim, patch_pixels)

    def forward(self, visible: torch.Tensor, restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(visible)
        n, kept, dim = x.shape
        x = torch.cat([x, self.mask_token.expand(n, restore.shape[1] - kept, -1)], dim=1)
        x = x.gather(1, restore[..., None].expand(-1, -1, dim)) + self.pos_embed
        return self.prediction(self.norm(self.blocks(x)))


class MAE(SelfSupervisedModule):
    """Masked autoencoder over a timm ViT made for small images.

    Args:
        patch_size: side of a patch (4 for 16–32 px inputs, 8 for 64 px); must divide ``image_size``.
        mask_ratio: share of each image's patches hidden from the encoder (0.75).
        decoder_dim, decoder_depth, decoder_heads: the light decoder (512, 8, 16 in the paper for
            ImageNet; 128, 2, 4 suits 16–64 px).
        normalize_targets: predict per-patch normalized pixels (the paper's better-feature default).
        backbone: a timm VisionTransformer name (``vit_tiny_patch16_224``, ``vit_small_patch16_224``);
            it is built at ``image_size`` with ``patch_size`` and average pooling (override in
            ``backbone_kwargs``, e.g. ``depth``).
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule` (the paper's optimizer:
            ``optimizer: adamw``, ``lr: 1.5e-4 · batch / 256``, ``weight_decay: 0.05``, 40 warmup epochs).
    """

    default_augment = {"crop_scale": (0.2, 1.0), "jitter_p": 0.0, "grayscale_p": 0.0}

    def __init__(
        self,
        patch_size: int = 4,
        mask_ratio: float = 0.75,
        decoder_dim: int = 128,
        decoder_depth: int = 2,
        decoder_heads: int = 4,
        normalize_targets: bool = True,
        backbone: str = "vit_tiny_patch16_224",
        small_images: bool = False,
        backbone_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        check_count("patch_size", patch_size)
        check_fraction("mask_ratio", mask_ratio, 0.75, include_one=False)
        for name, value in (("decoder_dim", decoder_dim), ("decoder_depth", decoder_depth)):
            check_count(name, value)
        check_count("decoder_heads", decoder_heads)
        image_size = kwargs.get("image_size", 32)
        if image_size % patch_size:
            raise LeydenConfigError(
                f"patch_size {patch_size} does not divide image_size {image_size}",
                "use a patch_size that divides image_size (e.g. 4 for 16 or 32 px, 8 for 64 px)",
            )
        vit_kwargs = {"img_size": image_size, "patch_size": patch_size, "global_pool": "avg"}
        vit_kwargs.update(backbone_kwargs or {})
        super().__init__(backbone=backbone, small_images=small_images, backbone_kwargs=vit_kwargs, **kwargs)
        self.hparams["backbone_kwargs"] = vit_kwargs  # the checkpoint says how to rebuild the exported trunk
        trunk = self.net.trunk
        if not isinstance(trunk, VisionTransformer) or trunk.pos_embed is None or trunk.dynamic_img_size:
            raise LeydenConfigError(
                f"MAE needs a timm VisionTransformer with absolute position embeddings, got {backbone!r}",
                "use backbone: vit_tiny_patch16_224 (or another vit_*_patch16_224)",
            )
        self.patch_size = patch_size
        grid = tuple(trunk.patch_embed.grid_size)
        pixels = patch_size * patch_size * self.hparams.in_chans
        self.decoder = MAEDecoder(trunk.embed_dim, grid, decoder_dim, decoder_depth, decoder_heads, pixels)

    def encode_visible(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The trunk on a random ``1 - mask_ratio`` of each image's patches.

        Returns the encoded visible patch tokens (N, kept, D), the mask (N, L; 1 = hidden) and the
        permutation that puts the kept-then-hidden tokens back in place (N, L). The trunk's final
        norms (``norm`` and the pooled ``fc_norm``) apply to every token: the decoder reads what the
        probe reads, and every trunk weight learns.
        """
        trunk = self.net.trunk
        prefix = trunk.num_prefix_tokens
        x = trunk.patch_embed(images)
        x = x + (trunk.pos_embed if trunk.no_embed_class else trunk.pos_embed[:, prefix:])
        n, length, dim = x.shape
        kept = max(1, int(length * (1 - self.hparams.mask_ratio)))
        shuffle = torch.rand(n, length, device=x.device).argsort(dim=1)
        restore = shuffle.argsort(dim=1)
        x = x.gather(1, shuffle[:, :kept, None].expand(-1, -1, dim))
        mask = torch.ones(n, length, device=x.device)
        mask[:, :kept] = 0
        mask = mask.gather(1, restore)
        tokens = [t.expand(n, -1, -1) for t in (trunk.cls_token, trunk.reg_token) if t is not None]
        if tokens:
            extra = torch.cat(tokens, dim=1)
            if not trunk.no_embed_class:
                extra = extra + trunk.pos_embed[:, :prefix]
            x = torch.cat([extra, x], dim=1)
        x = trunk.norm(trunk.blocks(trunk.norm_pre(x)))
        return trunk.fc_norm(x[:, prefix:]), mask, restore

    def reconstruct(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Predicted patches, the mask and the true patches of ``images`` (one random masking)."""
        visible, mask, restore = self.encode_visible(images)
        return self.decoder(visible, restore), mask, patchify(images, self.patch_size)

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        x = self.augment(images)
        self.log_views(x)
        prediction, mask, patches = self.reconstruct(x)
        return masked_patch_loss(prediction, patches, mask, self.hparams.normalize_targets)

    @torch.no_grad()
    def reconstruction_grid(self, images: torch.Tensor) -> torch.Tensor:
        """Rows of masked input, reconstruction (visible patches pasted back) and original, for W&B."""
        prediction, mask, patches = self.reconstruct(images)
        if self.hparams.normalize_targets:  # back to pixels with each true patch's own statistics
            mean, var = patches.mean(dim=-1, keepdim=True), patches.var(dim=-1, keepdim=True)
            prediction = prediction * (var + 1e-6).sqrt() + mean
        hidden = mask[..., None]
        channels = images.shape[1]
        masked = unpatchify(patches * (1 - hidden) + 0.5 * hidden, self.patch_size, channels)
        filled = unpatchify(patches * (1 - hidden) + prediction * hidden, self.patch_size, channels)
        return torch.cat([masked, filled.clamp(0, 1), images])

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_idx: int) -> None:
        super().validation_step(batch, batch_idx)
        if batch_idx == 0 and wandb_loggers(self.trainer):
            grid = self.reconstruction_grid(batch[0][:8])
            log_image_grid(self.trainer, "val/reconstruction", grid, nrow=len(grid) // 3)
