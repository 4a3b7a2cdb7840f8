"""RL²'s recurrent policies: the paper's GRU, a variant for tabular tasks, and one from pixels.

:class:`GRUPolicy` is the paper's policy: at every step the observation, the previous action, reward
and episode-end flag go through an optional ReLU embedding into a GRU whose memory persists over the
whole trial; a softmax head and a value head read the memory. :class:`TabularGRUPolicy` adds what a
tabular task (observation ``one_hot(state)``) lets a policy exploit, still reading nothing but the
paper's observations.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from leyden_core.errors import LeydenConfigError
from leyden_rl.meta.policy_base import TrialOutput, TrialPolicy, TrialSpec, task_value
from leyden_rl.networks import PixelEncoder


class GRUPolicy(TrialPolicy):
    """``x_t = [obs_t, one_hot(a_{t-1}), r_{t-1}, d_{t-1}]`` → (ReLU embedding) → GRU → policy and value heads.

    Args:
        spec: the task family's shapes (RL2 passes it; a config names only the options below).
        hidden_size: GRU width (the paper: 256).
        embed_size: width of a ReLU layer before the GRU (None: the input goes in as is). The GRU must
            credit the previous reward to the previous action, a product of two inputs that one ReLU
            layer forms directly but a GRU's gates learn only slowly.
        value_reads_task: the value also reads the trial's task in training (:class:`TaskAwareValue`);
            the policy still reads the memory only.

    With a task head (``spec.estimate_size``, from RL2's auxiliary losses) a linear map of the memory
    estimates the task; its loss shapes the memory the policy acts on.
    """

    def __init__(
        self,
        spec: TrialSpec,
        hidden_size: int = 128,
        embed_size: int | None = None,
        value_reads_task: bool = False,
    ) -> None:
        super().__init__()
        self.num_actions, self.hidden_size = spec.num_actions, hidden_size
        self.encoder = self.make_encoder(spec)
        encoded_size = (
            self.encoder.num_features if self.encoder is not None else torch.Size(spec.obs_shape).numel()
        )
        step_size = encoded_size + spec.num_actions + 2
        input_size = step_size + self.extra_input_size(spec)
        self.embed = (
            nn.Sequential(nn.Linear(input_size, embed_size), nn.ReLU()) if embed_size else nn.Identity()
        )
        self.gru = nn.GRU(embed_size or input_size, hidden_size)
        self.policy_head, self.value_head = self.heads(hidden_size, step_size, spec.num_actions)
        self.task_value = task_value(spec, value_reads_task, hidden_size, step_size, hidden_size)
        if self.task_value is not None:
            self.value_head = None
        self.task_head = nn.Linear(hidden_size, spec.estimate_size) if spec.estimate_size else None

    def make_encoder(self, spec: TrialSpec) -> nn.Module | None:
        """A network each observation goes through first (with ``num_features``); None: the observation as is."""
        return None

    def extra_input_size(self, spec: TrialSpec) -> int:
        return 0

    def heads(self, hidden_size: int, step_size: int, num_actions: int) -> tuple[nn.Module, nn.Module]:
        """The policy and value heads; the policy's starts near-uniform."""
        policy_head = nn.Linear(hidden_size, num_actions)
        nn.init.orthogonal_(policy_head.weight, 0.01)
        nn.init.zeros_(policy_head.bias)
        return policy_head, nn.Linear(hidden_size, 1)

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        return torch.zeros(1, batch, self.hidden_size, device=device)

    def forward(
        self,
        obs: torch.Tensor,
        previous: torch.Tensor,
        hidden: torch.Tensor,
        task: torch.Tensor | None = None,
    ) -> TrialOutput:
        if self.encoder is None:
            features = obs.flatten(2)
        else:
            features = self.encoder(obs.flatten(0, 1)).unflatten(0, obs.shape[:2])
        step = torch.cat([features, previous], -1)
        memory, hidden = self.gru(
            self.embed(self.gru_input(step, hidden)), hidden[..., : self.hidden_size].contiguous()
        )
        values = None
        if self.task_value is not None:
            if task is not None:
                values = self.task_value(memory, step, task).squeeze(-1)
        else:
            values = self.read(self.value_head, memory, step).squeeze(-1)
        estimate = self.task_head(memory) if self.task_head is not None else None
        logits = self.logits(memory, step)
        return TrialOutput(logits, values, estimate, self.next_hidden(hidden, step))

    def gru_input(self, step: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        return step

    def read(self, head: nn.Module, memory: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return head(memory)

    def logits(self, memory: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return self.read(self.policy_head, memory, step)

    def next_hidden(self, hidden: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return hidden


class TabularGRUPolicy(GRUPolicy):
    """:class:`GRUPolicy` for tabular tasks (observation ``one_hot(state)``), with three ways to read them.

    Args:
        pull_features: add ``one_hot(s_{t-1}) ⊗ one_hot(a_{t-1}) ⊗ [1, r_{t-1}]`` to the input: which
            (state, action) was tried last and what it paid, one slot per pair. The reward at step t was
            earned in the previous state, which only the previous observation holds; one ReLU layer can
            only approximate this product of three inputs. The previous state travels in the memory.
        bilinear_head: both heads bilinear in (memory, step input), ``out_j = Σ h_i W_ijd x_d + b_j``: a
            separate linear readout of the memory per observed state (and previous action), where a
            linear head reads the memory the same way in every state.
        reads_estimate: add ``β · (r̂(s_t, ·) − mean)`` to the logits, r̂ the task head's detached estimate
            of the current state's reward means (its first S·A outputs: RL2's ``TaskInference`` of
            ``reward_means``) and β learnt from 0. "Prefer what looks best" is then one weight for PPO to
            learn, and the estimate stays the supervised belief (Humplik et al., 2019).
    """

    def __init__(
        self,
        spec: TrialSpec,
        hidden_size: int = 128,
        embed_size: int | None = None,
        value_reads_task: bool = False,
        pull_features: bool = False,
        bilinear_head: bool = False,
        reads_estimate: bool = False,
    ) -> None:
        if len(spec.obs_shape) != 1:
            raise LeydenConfigError(
                f"TabularGRUPolicy reads one_hot(state) observations, got shape {spec.obs_shape}",
                "use it with BernoulliBandits or RandomTabularMDPs, or use GRUPolicy",
            )
        self.num_states = spec.obs_shape[0]
        self.pull_features, self.bilinear_head = pull_features, bilinear_head
        self.num_pairs = self.num_states * spec.num_actions
        if reads_estimate and spec.estimate_size < self.num_pairs:
            raise LeydenConfigError(
                "reads_estimate=True needs a task head whose first S·A outputs estimate the reward means",
                "add auxiliary_losses: [TaskInference with target reward_means]",
            )
        super().__init__(spec, hidden_size, embed_size, value_reads_task)
        self.estimate_weight = nn.Parameter(torch.zeros(())) if reads_estimate else None

    def extra_input_size(self, spec: TrialSpec) -> int:
        return 2 * self.num_states * spec.num_actions if self.pull_features else 0

    def heads(self, hidden_size: int, step_size: int, num_actions: int) -> tuple[nn.Module, nn.Module]:
        if not self.bilinear_head:
            return super().heads(hidden_size, step_size, num_actions)
        # the policy's readout starts small: a near-uniform first policy
        return BilinearReadout(hidden_size, step_size, num_actions, 0.01), BilinearReadout(
            hidden_size, step_size, 1
        )

    def initial_state(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The GRU's memory, then (with ``pull_features``) the previous step's state, none yet: zeros."""
        carried = self.num_states if self.pull_features else 0
        return torch.zeros(1, batch, self.hidden_size + carried, device=device)

    def gru_input(self, step: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        if not self.pull_features:
            return step
        states = step[..., : self.num_states]
        previous_states = torch.cat([hidden[..., self.hidden_size :], states[:-1]])  # s_{t-1} for step t
        previous_actions = step[..., self.num_states : self.num_states + self.num_actions]
        reward = step[..., -2:-1]
        pulled = (previous_states[..., :, None] * previous_actions[..., None, :]).flatten(-2)  # (T, N, S·A)
        return torch.cat([step, pulled, pulled * reward], -1)

    def read(self, head: nn.Module, memory: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        return head(memory, step) if self.bilinear_head else head(memory)

    def logits(self, memory: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        logits = super().logits(memory, step)
        if self.estimate_weight is None:
            return logits
        rows = slice(
            0, self.num_pairs
        )  # the reward means' estimates, detached: the policy gradient leaves them be
        weight, bias = self.task_head.weight[rows].detach(), self.task_head.bias[rows].detach()
        per_pair = F.linear(memory.detach(), weight, bias).unflatten(
            -1, (-1, self.num_actions)
        )  # (T, N, S, A)
        means = torch.einsum("tns,tnsa->tna", step[..., : self.num_states], per_pair)
        return logits + self.estimate_weight * (means - means.mean(-1, keepdim=True))

    def next_hidden(self, hidden: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        if not self.pull_features:
            return hidden
        return torch.cat([hidden, step[-1:, :, : self.num_states]], -1)


class BilinearReadout(nn.Module):
    """``out_j = Σ_{i,d} h_i W_ijd x_d + b_j`` as one matmul (``nn.Bilinear`` is ~20× slower on CPU)."""

    def __init__(self, hidden_size: int, input_size: int, out_size: int, init_scale: float = 1.0) -> None:
        super().__init__()
        self.input_size = input_size
        bound = init_scale / hidden_size**0.5
        self.weight = nn.Parameter(torch.empty(hidden_size, out_size * input_size).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.zeros(out_size))

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        z = (h @ self.weight).unflatten(-1, (-1, self.input_size))  # (..., out, input)
        return (z * x.unsqueeze(-2)).sum(-1) + self.bias


MIN_FRAME_SIZE = 15  # the smallest frame PixelEncoder's convolutions leave a pixel of


class CNNGRUPolicy(GRUPolicy):
    """:class:`GRUPolicy` from pixels: each frame (C, H, W, values 0–255) goes through a small convolutional
    encoder (:class:`~leyden_rl.networks.PixelEncoder`) before the GRU, as the paper's visual-navigation
    agent does.

    Args:
        features: width of the encoder's output; filters: channels of its convolutions.
    """

    def __init__(
        self,
        spec: TrialSpec,
        hidden_size: int = 256,
        embed_size: int | None = None,
        value_reads_task: bool = False,
        features: int = 128,
        filters: int = 16,
    ) -> None:
        if len(spec.obs_shape) != 3 or spec.obs_shape[1] != spec.obs_shape[2]:
            raise LeydenConfigError(
                f"CNNGRUPolicy reads square (C, H, W) frames, got observations of shape {spec.obs_shape}",
                "use it with a pixel task family, or use GRUPolicy",
            )
        if spec.obs_shape[1] < MIN_FRAME_SIZE:  # a stride-2 and three 3x3 convolutions leave nothing
            raise LeydenConfigError(
                f"CNNGRUPolicy's encoder needs frames of at least {MIN_FRAME_SIZE}x{MIN_FRAME_SIZE} pixels, "
                f"got {spec.obs_shape[1]}x{spec.obs_shape[2]}",
                "render the task family at a resolution of 16 or more",
            )
        self.features, self.filters = features, filters
        super().__init__(spec, hidden_size, embed_size, value_reads_task)

    def make_encoder(self, spec: TrialSpec) -> nn.Module:
        return PixelEncoder(spec.obs_shape[0], spec.obs_shape[1], self.features, self.filters)
