"""DINO (Caron et al. 2021): a student matches a momentum teacher's centered, sharpened output on other crops.

for each batch x:
    g1, g2 = global_augment(x), global_augment(x)               # 2 global crops at image_size
    l_1..l_N = local_augment(x)                                 # N small local crops, made on the device
    s = head(trunk([g1, g2], [l_1..l_N]))                       # student: every crop
    m = 1 - (1 - m_base) (cos(π k / K) + 1) / 2
    teacher ← m · teacher + (1 - m) · student                   # trunk + head, no gradient
    t = teacher([g1, g2])                                       # teacher: global crops only
    τ_t = warmup(τ_t0 → τ_t, epochs)                            # teacher temperature warmup
    loss = Σ_{i≠j} H(softmax((t_i - center) / τ_t), softmax(s_j / τ_s))   # centering + sharpening
    center ← c_m · center + (1 - c_m) · mean_over_all_ranks(t)  # state of the method, not the loss
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from leyden_core.backbones import fixed_input_size
from leyden_core.checks import check_count, check_fraction, check_positive
from leyden_core.distributed import all_reduce_mean
from leyden_core.ema import polyak_update
from leyden_core.errors import LeydenConfigError
from leyden_selfsup.augment import ViewAugment
from leyden_selfsup.base import SelfSupervisedModule, mlp
from leyden_selfsup.losses import dino_loss
from leyden_selfsup.optim import cosine_momentum


class DINOHead(nn.Module):
    """MLP → L2-normalized bottleneck → weight-normalized linear layer onto ``out_dim`` prototypes.

    With ``norm_last_layer`` the weight norm's magnitude is fixed at 1 (only directions learn), which
    the paper found to stabilize training.
    """

    def __init__(
        self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int, norm_last_layer: bool = True
    ) -> None:
        super().__init__()
        self.mlp = mlp(in_dim, hidden_dim, bottleneck_dim, layers=3)
        self.last_layer = weight_norm(nn.Linear(bottleneck_dim, out_dim, bias=False))
        magnitude = self.last_layer.parametrizations.weight.original0
        magnitude.data.fill_(1.0)
        magnitude.requires_grad_(not norm_last_layer)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.last_layer(F.normalize(self.mlp(h), dim=-1))


class DINO(SelfSupervisedModule):
    """DINO over any backbone (a CNN, or a ViT made with ``dynamic_img_size`` for local crops).

    Args:
        out_dim, hidden_dim, bottleneck_dim: of the head (65536, 2048, 256 in the paper).
        norm_last_layer: fix the magnitude of the last layer's weights.
        local_crops: number N of local crops (6 to 10 in the paper; 0 = two global crops only).
        local_size: side of the local crops (96/224 of ``image_size`` in the paper).
        global_crop_scale, local_crop_scale: area ranges of the two kinds of crops.
        student_temperature: τ_s (0.1).
        teacher_temperature, warmup_teacher_temperature, teacher_temperature_warmup_epochs: τ_t rises
            linearly from the warmup value to its final value over that many epochs (0.04 → 0.07, 30).
        center_momentum: of the teacher's output center (0.9).
        base_momentum: the teacher's momentum at the first step (0.996), rising to 1 on a cosine.
        freeze_last_layer_epochs: epochs during which the head's last layer does not learn (1).
        **kwargs: see :class:`~leyden_selfsup.base.SelfSupervisedModule`.
    """

    default_augment = {"crop_scale": (0.4, 1.0), "blur_p": 0.5, "solarize_p": 0.1}

    def __init__(
        self,
        out_dim: int = 65536,
        hidden_dim: int = 2048,
        bottleneck_dim: int = 256,
        norm_last_layer: bool = True,
        local_crops: int = 6,
        local_size: int | None = None,
        local_crop_scale: tuple[float, float] = (0.05, 0.4),
        student_temperature: float = 0.1,
        teacher_temperature: float = 0.07,
        warmup_teacher_temperature: float = 0.04,
        teacher_temperature_warmup_epochs: int = 30,
        center_momentum: float = 0.9,
        base_momentum: float = 0.996,
        freeze_last_layer_epochs: int = 1,
        **kwargs: Any,
    ) -> None:
        check_count("out_dim", out_dim, minimum=2)
        check_count("local_crops", local_crops, minimum=0)
        check_count("teacher_temperature_warmup_epochs", teacher_temperature_warmup_epochs, minimum=0)
        check_count("freeze_last_layer_epochs", freeze_last_layer_epochs, minimum=0)
        for name, value, example in (
            ("student_temperature", student_temperature, 0.1),
            ("teacher_temperature", teacher_temperature, 0.07),
            ("warmup_teacher_temperature", warmup_teacher_temperature, 0.04),
        ):
            check_positive(name, value, example)
        check_fraction("center_momentum", center_momentum, 0.9)
        check_fraction("base_momentum", base_momentum, 0.996)
        super().__init__(**kwargs)
        image_size, channels = self.hparams.image_size, self.hparams.in_chans
        self.local_size = local_size or max(8, round(image_size * 96 / 224))
        check_count("local_size", self.local_size, minimum=8)
        if local_crops and self.local_size != image_size and fixed_input_size(self.net.trunk):
            raise LeydenConfigError(
                f"local crops of {self.local_size} px cannot enter a backbone fixed at {image_size} px",
                "set local_crops: 0, local_size equal to image_size, or backbone_kwargs: {dynamic_img_size: true}",
            )
        global_options = {**self.default_augment, **(self.hparams.augment or {})}
        self.local_augment = ViewAugment(
            self.local_size, channels, **{**global_options, "crop_scale": tuple(local_crop_scale)}
        )
        self.net.add_head(
            "dino", DINOHead(self.net.feature_dim, hidden_dim, bottleneck_dim, out_dim, norm_last_layer)
        )
        self.teacher = copy.deepcopy(self.net).requires_grad_(False)
        self.register_buffer("center", torch.zeros(1, out_dim))

    def teacher_temperature(self) -> float:
        hp = self.hparams
        if self.current_epoch >= hp.teacher_temperature_warmup_epochs:
            return hp.teacher_temperature
        progress = self.current_epoch / hp.teacher_temperature_warmup_epochs
        return hp.warmup_teacher_temperature + progress * (
            hp.teacher_temperature - hp.warmup_teacher_temperature
        )

    def pretext_step(self, images: torch.Tensor) -> torch.Tensor:
        hp = self.hparams
        global_views = [self.augment(images), self.augment(images)]
        local_views = [self.local_augment(images) for _ in range(hp.local_crops)]
        self.log_views(*global_views)
        student = self.net(torch.cat(global_views), "dino").chunk(2)
        if local_views:
            student += self.net(torch.cat(local_views), "dino").chunk(hp.local_crops)
        total = int(self.trainer.estimated_stepping_batches) if self._trainer is not None else 1
        momentum = cosine_momentum(hp.base_momentum, self.global_step, total)
        polyak_update(self.teacher, self.net, 1.0 - momentum)
        with torch.no_grad():
            teacher = self.teacher(torch.cat(global_views), "dino")
        tau = self.teacher_temperature()
        loss = dino_loss(list(student), list(teacher.chunk(2)), self.center, hp.student_temperature, tau)
        self.update_center(teacher)
        self.log_dict({"train/teacher_temperature": tau, "train/teacher_momentum": momentum})
        return loss

    @torch.no_grad()
    def update_center(self, teacher: torch.Tensor) -> None:
        """Move the center towards the mean teacher output of the global batch (every rank's)."""
        batch_center = all_reduce_mean(teacher.mean(dim=0, keepdim=True))
        m = self.hparams.center_momentum
        self.center.mul_(m).add_(batch_center, alpha=1.0 - m)

    def on_after_backward(self) -> None:
        """The paper keeps the head's last layer fixed in the first epoch(s): it would chase a moving target."""
        if self.current_epoch < self.hparams.freeze_last_layer_epochs:
            for p in self.net.heads["dino"].last_layer.parameters():
                p.grad = None
