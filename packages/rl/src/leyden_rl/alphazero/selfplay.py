"""Self-play games, their training targets (π, z), the replay window and symmetry augmentation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from leyden_rl.alphazero.games import Game, Symmetry
from leyden_rl.alphazero.search import Evaluator, SearchConfig, SearchStats, choose_actions, search


def outcome_targets(final_value: float, length: int) -> np.ndarray:
    """z for the ``length`` positions of a game, each from the view of the player to move there.

    ``final_value`` is the end position's value for the player to move in it (after ``length`` moves);
    the players alternate, so a position an even number of moves before the end shares its sign.
    """
    moves_to_end = length - np.arange(length)
    return np.where(moves_to_end % 2 == 0, final_value, -final_value).astype(np.float32)


@dataclass
class SelfPlayBatch:
    """The positions of finished self-play games: planes, search policies π and outcomes z."""

    observations: np.ndarray  # (N, C, H, W) float32
    policies: np.ndarray  # (N, A) float32
    values: np.ndarray  # (N,) float32
    game_lengths: list[int]
    first_player_results: list[float]  # +1 first player won, -1 lost, 0 draw


def self_play(
    game: Game,
    evaluator: Evaluator,
    config: SearchConfig,
    num_games: int,
    temperature_moves: int,
    rng: np.random.Generator,
    stats: SearchStats | None = None,
) -> SelfPlayBatch:
    """Play ``num_games`` games to the end in parallel, every move chosen by search.

    Moves are drawn ∝ visit counts for the first ``temperature_moves`` moves of a game (exploration
    and varied openings), then the most visited move is played. The search policy π is the root's
    normalised visit counts.
    """
    states = game.initial(num_games)
    active = np.arange(num_games)
    obs: list[list[np.ndarray]] = [[] for _ in range(num_games)]
    pis: list[list[np.ndarray]] = [[] for _ in range(num_games)]
    lengths, finals, results = [0] * num_games, [0.0] * num_games, [0.0] * num_games
    ply = 0
    while len(active):
        result = search(game, states, evaluator, config, rng, stats)
        pi = result.visits / result.visits.sum(-1, keepdims=True)
        planes = game.observe(states)
        for k, g in enumerate(active):
            obs[g].append(planes[k])
            pis[g].append(pi[k].astype(np.float32))
        actions = choose_actions(result.visits, 1.0 if ply < temperature_moves else 0.0, rng)
        states = game.apply(states, actions)
        ply += 1
        done, value = game.outcome(states)
        for k in np.flatnonzero(done):
            g = active[k]
            lengths[g], finals[g] = ply, float(value[k])
            # value is the mover's at the end; the first player is to move there when ply is even
            results[g] = float(value[k] if ply % 2 == 0 else -value[k])
        active, states = active[~done], states[~done]
    values = [outcome_targets(finals[g], lengths[g]) for g in range(num_games)]
    return SelfPlayBatch(
        np.concatenate([np.stack(o) for o in obs]), np.concatenate([np.stack(p) for p in pis]),
        np.concatenate(values), lengths, results,
    )  # fmt: skip


def augment(
    observations: torch.Tensor, policies: torch.Tensor, symmetries: list[Symmetry], choice: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply symmetry ``choice[i]`` to row i of the planes and, with the same map, of the policy targets."""
    n, c, h, w = observations.shape
    flat = observations.reshape(n, c, h * w)
    cells = torch.stack([torch.as_tensor(s.cells) for s in symmetries]).to(observations.device)[choice]
    actions = torch.stack([torch.as_tensor(s.actions) for s in symmetries]).to(policies.device)[choice]
    new_obs = flat.gather(2, cells[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)
    return new_obs, policies.gather(1, actions)


class ReplayWindow:
    """The most recent ``capacity`` self-play positions (a ring), sampled uniformly for training."""

    def __init__(self, capacity: int, observation_shape: tuple[int, ...], num_actions: int) -> None:
        self.capacity = capacity
        self.observations = torch.zeros((capacity, *observation_shape), dtype=torch.uint8)
        self.policies = torch.zeros((capacity, num_actions))
        self.values = torch.zeros(capacity)
        self.position, self.size = 0, 0

    def add(self, batch: SelfPlayBatch) -> None:
        # planes are 0/1, stored as bytes (a quarter of float32's memory)
        obs = torch.from_numpy(batch.observations).to(torch.uint8)[-self.capacity :]
        pis = torch.from_numpy(batch.policies)[-self.capacity :]
        zs = torch.from_numpy(batch.values)[-self.capacity :]
        index = (self.position + torch.arange(len(obs))) % self.capacity
        self.observations[index], self.policies[index], self.values[index] = obs, pis, zs
        self.position = int((self.position + len(obs)) % self.capacity)
        self.size = min(self.capacity, self.size + len(obs))

    def sample(
        self, batch_size: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        index = torch.randint(self.size, (batch_size,), generator=generator)
        return self.observations[index].float(), self.policies[index], self.values[index]

    def state_dict(self) -> dict:
        n = self.size  # the filled rows only (copies: a slice would save the whole tensor)
        return {"observations": self.observations[:n].clone(), "policies": self.policies[:n].clone(),
                "values": self.values[:n].clone(), "position": self.position, "size": n}  # fmt: skip

    def load_state_dict(self, state: dict) -> None:
        n = state["size"]
        self.observations[:n], self.policies[:n], self.values[:n] = (
            state["observations"],
            state["policies"],
            state["values"],
        )
        self.position, self.size = state["position"], n
