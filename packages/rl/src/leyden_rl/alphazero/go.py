"""Go on a small board through OpenSpiel's ``go`` game (Tromp–Taylor scoring, komi 7.5).

A batch of states is a numpy object array of ``pyspiel.State``; stepping is one OpenSpiel call per
game (C++), so Go's engine cost grows with the number of parallel games, unlike the vectorised games.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from leyden_core.errors import LeydenConfigError
from leyden_rl.alphazero.games import Game, Symmetry, dihedral_symmetries


def load_pyspiel() -> Any:
    """OpenSpiel's Python module, or a LeydenConfigError naming the extra that installs it."""
    try:
        import pyspiel
    except ImportError as err:
        raise LeydenConfigError(
            "Go (and the OpenSpiel rule checks) need OpenSpiel, which is not installed",
            "pip install 'leyden-rl[games]'",
        ) from err
    return pyspiel


def _objects(items: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(items), object)
    out[:] = list(items)
    return out


class OpenSpielGo(Game):
    """Go on a ``size``×``size`` board; actions are the cells (row-major from the bottom) and pass.

    Observation planes: my stones, their stones, empty points, and a constant plane that is 1 when
    white is to move (komi makes the colours unequal, so the network must know which it plays).
    """

    def __init__(self, size: int) -> None:
        self.pyspiel = load_pyspiel()
        self.size = size
        self.name = f"go_{size}x{size}"
        self.spiel_game = self.pyspiel.load_game("go", {"board_size": size})
        self.num_actions = self.spiel_game.num_distinct_actions()
        self.observation_shape = (4, size, size)

    def initial(self, n: int) -> np.ndarray:
        return _objects([self.spiel_game.new_initial_state() for _ in range(n)])

    def stack(self, rows: Sequence[Any]) -> np.ndarray:
        return _objects(rows)

    def legal(self, states: np.ndarray) -> np.ndarray:
        out = np.zeros((len(states), self.num_actions), bool)
        for i, state in enumerate(states):
            if not state.is_terminal():
                out[i, state.legal_actions()] = True
        return out

    def apply(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        out = []
        for state, action in zip(states, actions):
            child = state.clone()
            child.apply_action(int(action))
            out.append(child)
        return _objects(out)

    def to_move(self, states: np.ndarray) -> np.ndarray:
        return np.array([len(state.history()) % 2 for state in states], np.int64)

    def outcome(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        done = np.array([state.is_terminal() for state in states], bool)
        players = self.to_move(states)
        value = np.array([s.returns()[p] if d else 0.0 for s, p, d in zip(states, players, done)], np.float64)
        return done, value

    def observe(self, states: np.ndarray) -> np.ndarray:
        n = self.size
        out = np.zeros((len(states), 4, n, n), np.float32)
        for i, (state, player) in enumerate(zip(states, self.to_move(states))):
            black, white, empty = np.asarray(state.observation_tensor(0), np.float32).reshape(4, n, n)[:3]
            out[i, 0], out[i, 1] = (black, white) if player == 0 else (white, black)
            out[i, 2], out[i, 3] = empty, float(player)
        return out

    def symmetries(self) -> list[Symmetry]:
        return dihedral_symmetries(self.size, extra_actions=1)

    def render(self, state: Any) -> str:
        return str(state).split("\n", 1)[1].strip("\n")
