"""PUCT Monte Carlo tree search (Silver et al., 2018), batched across parallel games.

Every simulation round descends once in each game's tree, collects the new leaves of all games,
steps them with one batched game call and evaluates them with one evaluator call (one network
forward for all games), then backs the values up. One leaf per game per round needs no virtual
loss; the batch is the number of parallel games.

Conventions: a node's ``value_sum[a]`` is the total value of move ``a`` from the view of the player
to move at that node; an evaluator's value is from the view of the player to move at the leaf, so
it changes sign at every level on the way up.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from leyden_rl.alphazero.games import Game


class Evaluator(Protocol):
    """Priors over moves and a value (player to move's view) for a batch of unfinished states."""

    def __call__(self, game: Game, states: Any, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class SearchConfig:
    """How hard and how widely to search.

    Args:
        num_simulations: tree descents per move.
        c_puct: weight of the prior-guided exploration term ``c·P·sqrt(N)/(1+n)``.
        dirichlet_alpha, dirichlet_fraction: root noise ``(1-f)·P + f·Dir(alpha)`` over the legal moves
            (self-play only; fraction 0 turns it off).
        uct: select by UCT instead, ``Q + c·sqrt(ln N / n)`` with every move tried once first and
            ``c = c_puct``: pure MCTS without priors, as OpenSpiel's ``MCTSBot`` (c = 2) plays it.
    """

    num_simulations: int = 50
    c_puct: float = 1.5
    dirichlet_alpha: float = 0.3
    dirichlet_fraction: float = 0.0
    uct: bool = False


@dataclass
class SearchStats:
    """Where search time goes: the evaluator (the network, or random rollouts), the game engine, the tree."""

    simulations: int = 0
    evaluator_s: float = 0.0
    game_s: float = 0.0
    total_s: float = 0.0

    @property
    def tree_s(self) -> float:
        return max(0.0, self.total_s - self.evaluator_s - self.game_s)

    def shares(self) -> dict[str, float]:
        """Fractions of search time in the evaluator, the game engine and the tree code."""
        total = max(self.total_s, 1e-12)
        return {
            "evaluator": self.evaluator_s / total,
            "game": self.game_s / total,
            "tree": self.tree_s / total,
        }


class Node:
    """One searched state: its legal moves, and per-move prior, visit count and value sum."""

    __slots__ = ("state", "legal", "prior", "visits", "value_sum", "children", "terminal", "terminal_value")

    def __init__(self, state: Any, legal: np.ndarray, terminal: bool, terminal_value: float) -> None:
        self.state, self.legal = state, legal
        self.terminal, self.terminal_value = terminal, terminal_value
        self.prior = np.zeros(len(legal))
        self.visits = np.zeros(len(legal))
        self.value_sum = np.zeros(len(legal))
        self.children: dict[int, Node] = {}

    def select(self, c: float, uct: bool = False) -> int:
        """The move maximising ``Q + c·P·sqrt(N)/(1+n)`` (Q = 0 for unvisited moves), or UCT's score."""
        n = self.visits
        q = self.value_sum / np.maximum(n, 1.0)
        total = max(n.sum(), 1.0)
        if uct:
            unvisited = self.legal & (n == 0)
            if unvisited.any():
                return int(unvisited.argmax())
            score = q + c * np.sqrt(math.log(total) / np.maximum(n, 1.0))
        else:
            score = q + c * self.prior * (math.sqrt(total) / (1.0 + n))
        return int(np.where(self.legal, score, -np.inf).argmax())


def masked_priors(priors: np.ndarray, legal: np.ndarray) -> np.ndarray:
    """Priors restricted to the legal moves and renormalised (uniform where the net put ~0 on all of them)."""
    p = np.where(legal, priors, 0.0)
    total = p.sum(-1, keepdims=True)
    uniform = legal / np.maximum(legal.sum(-1, keepdims=True), 1)
    return np.where(total > 1e-12, p / np.maximum(total, 1e-12), uniform)


def _expand(
    game: Game, states: Any, evaluator: Evaluator, stats: SearchStats
) -> tuple[list[Node], np.ndarray]:
    """Nodes for a batch of states (priors set) and their values from each state's mover's view."""
    start = time.perf_counter()
    done, values = game.outcome(states)
    legal = game.legal(states)
    stats.game_s += time.perf_counter() - start
    values = values.astype(np.float64)
    open_ = np.flatnonzero(~done)
    priors = np.zeros(legal.shape)
    if len(open_):
        start = time.perf_counter()
        p, v = evaluator(game, states[open_], legal[open_])
        stats.evaluator_s += time.perf_counter() - start
        priors[open_] = masked_priors(p, legal[open_])
        values[open_] = v
    nodes = []
    for i in range(len(legal)):
        node = Node(states[i], legal[i], bool(done[i]), float(values[i]) if done[i] else 0.0)
        node.prior = priors[i]
        nodes.append(node)
    return nodes, values


def _backup(path: list[tuple[Node, int]], value: float) -> None:
    """Add one visit along ``path``; ``value`` is the leaf's, from its mover's view."""
    for node, action in reversed(path):
        value = -value
        node.visits[action] += 1
        node.value_sum[action] += value


def add_root_noise(root: Node, alpha: float, fraction: float, rng: np.random.Generator) -> None:
    """Mix Dirichlet(alpha) noise into the root's priors over its legal moves (exploration in self-play)."""
    legal = np.flatnonzero(root.legal)
    if fraction <= 0 or len(legal) == 0:
        return
    noise = rng.dirichlet([alpha] * len(legal))
    root.prior = root.prior.copy()
    root.prior[legal] = (1 - fraction) * root.prior[legal] + fraction * noise


@dataclass
class SearchResult:
    visits: np.ndarray  # (B, A) root visit counts
    root_values: np.ndarray  # (B,) mean value of the root's moves, root mover's view
    roots: list[Node] = field(repr=False)


def search(
    game: Game,
    states: Any,
    evaluator: Evaluator,
    config: SearchConfig,
    rng: np.random.Generator,
    stats: SearchStats | None = None,
) -> SearchResult:
    """Run ``config.num_simulations`` PUCT simulations from each of a batch of unfinished states."""
    stats = stats if stats is not None else SearchStats()
    start_total = time.perf_counter()
    roots, _ = _expand(game, states, evaluator, stats)
    for root in roots:
        add_root_noise(root, config.dirichlet_alpha, config.dirichlet_fraction, rng)
    for _ in range(config.num_simulations):
        pending: list[tuple[list[tuple[Node, int]], Node, int]] = []
        for root in roots:
            node, path = root, []
            while True:
                action = node.select(config.c_puct, config.uct)
                path.append((node, action))
                child = node.children.get(action)
                if child is None:
                    pending.append((path, node, action))
                    break
                if child.terminal:
                    _backup(path, child.terminal_value)
                    break
                node = child
        if pending:
            start = time.perf_counter()
            parents = game.stack([parent.state for _, parent, _ in pending])
            children_states = game.apply(parents, np.array([a for _, _, a in pending]))
            stats.game_s += time.perf_counter() - start
            children, values = _expand(game, children_states, evaluator, stats)
            for (path, parent, action), child, value in zip(pending, children, values):
                parent.children[action] = child
                _backup(path, float(value))
        stats.simulations += len(roots)
    stats.total_s += time.perf_counter() - start_total
    visits = np.stack([root.visits for root in roots])
    root_values = np.array([r.value_sum.sum() / max(r.visits.sum(), 1.0) for r in roots])
    return SearchResult(visits, root_values, roots)


def choose_actions(visits: np.ndarray, temperature: float, rng: np.random.Generator) -> np.ndarray:
    """Moves from root visit counts: drawn ∝ ``N^(1/T)``, or the most visited (ties at random) when T = 0."""
    if temperature <= 0:
        best = visits == visits.max(-1, keepdims=True)
        return (rng.random(visits.shape) * best).argmax(-1)
    weights = visits ** (1.0 / temperature)
    probs = weights / weights.sum(-1, keepdims=True)
    return np.array([rng.choice(len(p), p=p) for p in probs])


# ---------------------------------------------------------------------------------------------- evaluators
def random_legal_actions(legal: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random legal move per row."""
    return (rng.random(legal.shape) * legal).argmax(-1)


class UniformEvaluator:
    """Uniform priors and value 0: the search sees only the game's own terminal values."""

    def __call__(self, game: Game, states: Any, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return legal / legal.sum(-1, keepdims=True), np.zeros(len(legal))


class RolloutEvaluator:
    """Pure MCTS's evaluator: uniform priors, and the result of one random playout from each leaf."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def __call__(self, game: Game, states: Any, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = np.zeros(len(legal))
        active = np.arange(len(legal))
        sign = 1.0
        current, current_legal = states, legal
        while len(active):
            current = game.apply(current, random_legal_actions(current_legal, self.rng))
            sign = -sign  # the value of the state reached is from the other player's view
            done, value = game.outcome(current)
            values[active[done]] = sign * value[done]
            active, current = active[~done], current[~done]
            current_legal = game.legal(current) if len(active) else current_legal
        return legal / legal.sum(-1, keepdims=True), values


class NetworkEvaluator:
    """A policy/value network's priors (softmax over the legal moves) and values, one forward per batch."""

    def __init__(self, network: torch.nn.Module, device: torch.device | str = "cpu") -> None:
        self.network, self.device = network, torch.device(device)

    @torch.no_grad()
    def __call__(self, game: Game, states: Any, legal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs = torch.from_numpy(game.observe(states)).to(self.device)
        logits, value = self.network(obs)
        logits = logits.float().masked_fill(~torch.from_numpy(legal).to(self.device), float("-inf"))
        return torch.softmax(logits, -1).cpu().numpy(), value.float().cpu().numpy()
