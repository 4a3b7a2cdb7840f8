"""A recurrent actor-critic: π(a | o_1..o_t) and V(o_1..o_t) through an LSTM or GRU memory.

Observations go through the feed-forward encoder PPO uses (flatten for vectors, NatureCNN for frames),
then a memory cell — one shared by actor and critic, or one each (Stable-Baselines3-contrib's default:
the critic's loss then cannot disturb what the actor remembers) — then small MLP heads.

The memory of every env is one (B, width) tensor (an LSTM's h and c, or a GRU's h, of every cell side by
side), so a rollout can store it, index it by env and checkpoint it like any other tensor. :meth:`forward`
steps the memory through a (T, B) sequence and resets it to zero where ``episode_starts`` is set: the
same call acts for one step during collection and replays a whole rollout for the PPO update.
"""

from __future__ import annotations

import math

import gymnasium as gym
import torch
from torch import nn

from leyden_core.checks import check_choice, check_count
from leyden_rl.networks import _orthogonal, action_dim, make_encoder, mlp

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU}


def sequence_segments(episode_starts: torch.Tensor) -> list[tuple[int, int]]:
    """``[a, b)`` time ranges of a (T, B) sequence that no episode starts inside (only at ``a``).

    Between two starts the memory runs through the cuDNN/oneDNN sequence kernel in one call; at a start
    it is zeroed for the envs that begin an episode there. Same result as a step-by-step loop.
    """
    steps = episode_starts.shape[0]
    if steps == 1:
        return [(0, 1)]
    cuts = (torch.nonzero(episode_starts[1:].any(1)).flatten() + 1).tolist()
    bounds = [0, *cuts, steps]
    return list(zip(bounds[:-1], bounds[1:]))


class RecurrentActorCritic(nn.Module):
    """Encoder → LSTM/GRU memory → actor and critic MLP heads, for Discrete or Box actions.

    Args:
        obs_space, action_space: the env's spaces.
        cell: "lstm" or "gru"; memory_size: its width.
        shared_memory: one cell read by both heads (True), or one for the actor and one for the critic.
        hidden_sizes, activation: the heads' MLP layers after the memory.
        orthogonal_init: orthogonal weights (gain √2, the actor's last layer 0.01, the critic's 1) and zero
            biases, as CleanRL; False keeps PyTorch's default initialisation (rl-zoo's ``ortho_init=False``).
    """

    def __init__(
        self,
        obs_space: gym.Space,
        action_space: gym.Space,
        cell: str = "lstm",
        memory_size: int = 64,
        shared_memory: bool = False,
        hidden_sizes: tuple[int, ...] = (64,),
        activation: str = "relu",
        orthogonal_init: bool = True,
    ) -> None:
        check_choice("cell", cell, tuple(CELLS))
        check_count("memory_size", memory_size)
        super().__init__()
        self.discrete = isinstance(action_space, gym.spaces.Discrete)
        n_act = action_dim(action_space)
        self.encoder = make_encoder(obs_space, (), activation)  # flatten, or NatureCNN for frames
        self.cells = nn.ModuleList(
            CELLS[cell](self.encoder.num_features, memory_size) for _ in range(1 if shared_memory else 2)
        )
        self.actor_head = mlp(memory_size, tuple(hidden_sizes), n_act, activation)
        self.critic_head = mlp(memory_size, tuple(hidden_sizes), 1, activation)
        if orthogonal_init:
            self._orthogonal_init()
        if not self.discrete:
            self.log_std = nn.Parameter(torch.zeros(n_act))
        self.lstm = cell == "lstm"
        self.memory_size = memory_size
        self.memory_width = len(self.cells) * (2 if self.lstm else 1) * memory_size

    def _orthogonal_init(self) -> None:
        _orthogonal(self.encoder, math.sqrt(2))
        _orthogonal(self.actor_head, math.sqrt(2))
        _orthogonal(self.critic_head, math.sqrt(2))
        _orthogonal(self.actor_head[-1], 0.01)  # a near-uniform first policy
        _orthogonal(self.critic_head[-1], 1.0)
        for name, param in self.cells.named_parameters():  # as CleanRL's LSTM agents
            if ".weight" in name:
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)

    @property
    def action_log_std(self) -> torch.Tensor | None:
        """The Gaussian's log-std for Box actions; None for a categorical over Discrete actions."""
        return None if self.discrete else self.log_std

    def initial_memory(self, batch: int, device: torch.device | None = None) -> torch.Tensor:
        """The zero memory an episode starts from, (batch, ``memory_width``)."""
        return torch.zeros(batch, self.memory_width, device=device)

    def forward(
        self, obs: torch.Tensor, memory: torch.Tensor, episode_starts: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step the memory through a sequence.

        Args:
            obs: (T, B, *obs_shape). memory: (B, width), before the first step.
            episode_starts: (T, B) bool; where set, the memory is zeroed before that step.

        Returns:
            ``(actor_output, value, memory)``: logits or Gaussian means (T, B, A), values (T, B), and
            the memory after the last step (B, width).
        """
        steps, batch = episode_starts.shape
        features = self.encoder(obs.flatten(0, 1)).unflatten(0, (steps, batch))
        states = self._unpack(memory)
        outputs: list[list[torch.Tensor]] = [[] for _ in self.cells]
        for a, b in sequence_segments(episode_starts):
            keep = (~episode_starts[a]).to(features.dtype)[None, :, None]
            for k, cell in enumerate(self.cells):
                state = tuple(s * keep for s in states[k])
                out, state = cell(features[a:b], state if self.lstm else state[0])
                states[k] = state if self.lstm else (state,)
                outputs[k].append(out)
        actor_memory, critic_memory = torch.cat(outputs[0]), torch.cat(outputs[-1])
        value = self.critic_head(critic_memory).squeeze(-1)
        return self.actor_head(actor_memory), value, self._pack(states)

    def _unpack(self, memory: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
        """(B, width) → per cell, its state tensors as (1, B, memory_size)."""
        parts = memory.unflatten(1, (len(self.cells), -1, self.memory_size))
        return [
            tuple(parts[:, k, p][None].contiguous() for p in range(parts.shape[2]))
            for k in range(len(self.cells))
        ]

    def _pack(self, states: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
        return torch.stack([torch.stack([s[0] for s in state], 1) for state in states], 1).flatten(1)
