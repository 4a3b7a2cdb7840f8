"""Players for evaluation matches, and the match itself (both colours, games played in parallel)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from leyden_rl.alphazero.games import Game
from leyden_rl.alphazero.search import (
    Evaluator,
    RolloutEvaluator,
    SearchConfig,
    SearchStats,
    choose_actions,
    random_legal_actions,
    search,
)


class Player(Protocol):
    def __call__(self, game: Game, states: Any, rng: np.random.Generator) -> np.ndarray: ...


class RandomPlayer:
    """A uniformly random legal move."""

    def __call__(self, game: Game, states: Any, rng: np.random.Generator) -> np.ndarray:
        return random_legal_actions(game.legal(states), rng)


class SearchPlayer:
    """The most visited move of a search with ``evaluator`` (no root noise): the trained agent with a
    network evaluator, pure MCTS with a :class:`~leyden_rl.alphazero.search.RolloutEvaluator`."""

    def __init__(self, evaluator: Evaluator, config: SearchConfig) -> None:
        self.evaluator, self.config = evaluator, config
        self.stats = SearchStats()

    def __call__(self, game: Game, states: Any, rng: np.random.Generator) -> np.ndarray:
        result = search(game, states, self.evaluator, self.config, rng, self.stats)
        return choose_actions(result.visits, 0.0, rng)


def pure_mcts_player(simulations: int, rng: np.random.Generator) -> SearchPlayer:
    """Pure MCTS as OpenSpiel's ``MCTSBot`` plays it: UCT (c = 2), one random rollout per new leaf."""
    return SearchPlayer(RolloutEvaluator(rng), SearchConfig(simulations, c_puct=2.0, uct=True))


class MinimaxPlayer:
    """A perfect player for games small enough to solve (tic-tac-toe: 5,478 positions), by memoised negamax.

    Among the moves of equal game-theoretic value one is drawn at random, so matches vary.
    """

    def __init__(self) -> None:
        self._values: dict[bytes, float] = {}

    def value(self, game: Game, state: Any) -> float:
        """The game-theoretic value of ``state`` for its player to move."""
        key = np.asarray(state).tobytes()
        if key not in self._values:
            done, value = game.outcome(state[None])
            if done[0]:
                self._values[key] = float(value[0])
            else:
                self._values[key] = max(self.move_values(game, state)[1])
        return self._values[key]

    def move_values(self, game: Game, state: Any) -> tuple[np.ndarray, list[float]]:
        actions = np.flatnonzero(game.legal(state[None])[0])
        children = game.apply(np.repeat(state[None], len(actions), 0), actions)
        return actions, [-self.value(game, child) for child in children]

    def __call__(self, game: Game, states: Any, rng: np.random.Generator) -> np.ndarray:
        out = []
        for state in states:
            actions, values = self.move_values(game, state)
            best = actions[np.isclose(values, max(values))]
            out.append(rng.choice(best))
        return np.array(out)


@dataclass
class MatchResult:
    """Results from the first-named player's view, and the positions of one sample game."""

    wins: int = 0
    draws: int = 0
    losses: int = 0
    sample_game: list[Any] = field(default_factory=list)

    @property
    def games(self) -> int:
        return self.wins + self.draws + self.losses

    @property
    def score(self) -> float:
        """Points per game: 1 a win, ½ a draw."""
        return (self.wins + 0.5 * self.draws) / max(self.games, 1)

    def elo_difference(self) -> float:
        """The Elo rating difference this score implies (clipped to ±800 for all-win or all-loss matches)."""
        score = min(max(self.score, 1e-4), 1 - 1e-4)
        return float(np.clip(-400 * np.log10(1 / score - 1), -800, 800))


def play_match(
    game: Game, player: Player, opponent: Player, games_per_colour: int, rng: np.random.Generator
) -> MatchResult:
    """``player`` against ``opponent``, ``games_per_colour`` games as each colour, all played at once."""
    n = 2 * games_per_colour
    player_first = np.arange(n) < games_per_colour
    states = game.initial(n)
    active = np.arange(n)
    result = MatchResult(sample_game=[states[0]])
    ply = 0
    while len(active):
        # all games started together, so in every active game the same side moves at this ply
        player_moves = player_first[active] == (ply % 2 == 0)
        actions = np.zeros(len(active), np.int64)
        for mask, who in ((player_moves, player), (~player_moves, opponent)):
            if mask.any():
                actions[mask] = who(game, states[mask], rng)
        states = game.apply(states, actions)
        ply += 1
        if active[0] == 0:
            result.sample_game.append(states[0])
        done, value = game.outcome(states)
        for k in np.flatnonzero(done):
            # value is for the side to move now; it is the player's side when the player did not just move
            mine = -value[k] if player_moves[k] else value[k]
            result.wins += int(mine > 0)
            result.draws += int(mine == 0)
            result.losses += int(mine < 0)
        active, states = active[~done], states[~done]
    return result
