"""Two-player, zero-sum, perfect-information games behind one small batched interface.

Search and self-play touch a game only through :class:`Game`: every method takes a *batch* of
states (one row per game), so one call steps all parallel games. Values are always from the view of
the player to move in the state, and observations are *canonical* — the planes show "my stones" and
"their stones", not black and white — so one network plays both sides.

Tic-tac-toe and Connect Four are own numpy implementations (Connect Four on bitboards), checked
against OpenSpiel's rules on thousands of random games (``tests/rl/test_alphazero_games.py``); Go
runs on OpenSpiel's ``go`` game (:mod:`leyden_rl.alphazero.go`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from leyden_core.errors import LeydenConfigError


@dataclass(frozen=True)
class Symmetry:
    """A board symmetry as two index maps: ``new[..., i] = old[..., perm[i]]``.

    ``cells`` permutes the flattened board cells (of every observation plane), ``actions`` the policy
    vector, so a transformed (planes, policy) pair still says which move goes on which cell.
    """

    cells: np.ndarray
    actions: np.ndarray


def dihedral_symmetries(size: int, extra_actions: int = 0) -> list[Symmetry]:
    """The 8 rotations and reflections of a ``size``×``size`` board whose actions are its cells
    (plus ``extra_actions`` trailing actions such as Go's pass, which every symmetry leaves in place)."""
    index = np.arange(size * size).reshape(size, size)
    tail = np.arange(size * size, size * size + extra_actions)
    out = []
    for flip in (False, True):
        base = np.fliplr(index) if flip else index
        for k in range(4):
            cells = np.rot90(base, k).ravel().copy()
            out.append(Symmetry(cells, np.concatenate([cells, tail])))
    return out


class Game:
    """The batched interface every game implements.

    A batch of states is whatever :meth:`initial` returns (a numpy array with one row per game);
    ``batch[i]`` is one state and :meth:`stack` builds a batch from such rows.
    """

    name: str
    num_actions: int
    #: (channels, height, width) of :meth:`observe`'s planes
    observation_shape: tuple[int, int, int]

    def initial(self, n: int) -> Any:
        """``n`` copies of the start position."""
        raise NotImplementedError

    def stack(self, rows: Sequence[Any]) -> Any:
        """A batch from single states (rows of earlier batches)."""
        return np.stack(rows)

    def legal(self, states: Any) -> np.ndarray:
        """(B, num_actions) bool: the moves allowed in each state (none in a finished one)."""
        raise NotImplementedError

    def apply(self, states: Any, actions: np.ndarray) -> Any:
        """The states after each game's action (a new batch; the input is unchanged)."""
        raise NotImplementedError

    def outcome(self, states: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(done, value)``: (B,) bool, and (B,) float in {-1, 0, 1} from the view of the player to move
        (0 where not done). After a winning move the winner's opponent is to move: value -1."""
        raise NotImplementedError

    def observe(self, states: Any) -> np.ndarray:
        """(B, C, H, W) float32 canonical planes: the player to move's stones first."""
        raise NotImplementedError

    def to_move(self, states: Any) -> np.ndarray:
        """(B,) int: 0 where the first player (X, red, black) is to move, else 1."""
        raise NotImplementedError

    def symmetries(self) -> list[Symmetry]:
        """The board symmetries that map legal play to legal play with the same outcome (identity first)."""
        raise NotImplementedError

    def render(self, state: Any) -> str:
        """A text picture of one state, first player ``X``, second ``O``."""
        raise NotImplementedError


# ---------------------------------------------------------------------------------------------- tic-tac-toe
TTT_LINES = np.array([[0, 1, 2], [3, 4, 5], [6, 7, 8], [0, 3, 6], [1, 4, 7], [2, 5, 8], [0, 4, 8], [2, 4, 6]])


class TicTacToe(Game):
    """3×3 tic-tac-toe. A state is 9 int8 cells: +1 the player to move's mark, -1 the opponent's, 0 empty.

    Storing the board from the mover's view makes a move "place +1, then negate": the canonical
    observation and the value sign need no player bookkeeping.
    """

    name = "tic_tac_toe"
    num_actions = 9
    observation_shape = (2, 3, 3)

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((n, 9), np.int8)

    def legal(self, states: np.ndarray) -> np.ndarray:
        done, _ = self.outcome(states)
        return (states == 0) & ~done[:, None]

    def apply(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        out = states.copy()
        out[np.arange(len(out)), actions] = 1
        return -out

    def outcome(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        line_sums = states[:, TTT_LINES].sum(-1, dtype=np.int16)
        lost = (line_sums == -3).any(-1)  # the opponent (who just moved) completed a line
        full = (states != 0).all(-1)
        return lost | full, np.where(lost, -1.0, 0.0)

    def observe(self, states: np.ndarray) -> np.ndarray:
        planes = np.stack([states == 1, states == -1], 1).astype(np.float32)
        return planes.reshape(len(states), 2, 3, 3)

    def to_move(self, states: np.ndarray) -> np.ndarray:
        return ((states != 0).sum(-1) % 2).astype(np.int64)

    def symmetries(self) -> list[Symmetry]:
        return dihedral_symmetries(3)

    def render(self, state: np.ndarray) -> str:
        first = 1 if int((state != 0).sum()) % 2 == 0 else -1  # the mark of X in the mover's view
        chars = {first: "X", -first: "O", 0: "."}
        return "\n".join("".join(chars[int(v)] for v in state[r * 3 : r * 3 + 3]) for r in range(3))


# ---------------------------------------------------------------------------------------------- Connect Four
C4_ROWS, C4_COLS = 6, 7
_H1 = C4_ROWS + 1  # bits per column: 6 cells and an always-empty sentinel that stops line checks wrapping
_BOTTOM = np.array([1 << (c * _H1) for c in range(C4_COLS)], np.uint64)
_TOP = np.array([1 << (c * _H1 + C4_ROWS - 1) for c in range(C4_COLS)], np.uint64)
# the bit of each observation cell, row-major with row 0 at the bottom
_CELL_BITS = np.array([c * _H1 + r for r in range(C4_ROWS) for c in range(C4_COLS)], np.uint64)


def _has_four(bits: np.ndarray) -> np.ndarray:
    """(B,) bool: the bitboards hold four in a row (vertical, horizontal or either diagonal)."""
    found = np.zeros(bits.shape, bool)
    for shift in (1, _H1, _H1 - 1, _H1 + 1):
        s = np.uint64(shift)
        pairs = bits & (bits >> s)
        found |= (pairs & (pairs >> np.uint64(2 * shift))) != 0
    return found


class ConnectFour(Game):
    """Connect Four (6 rows × 7 columns; an action is a column) on bitboards, vectorised over games.

    A state is two uint64 bitboards ``[mine, theirs]`` (player to move first); a move drops a stone by
    adding the column's bottom bit to the occupancy mask, then swaps the boards.
    """

    name = "connect_four"
    num_actions = C4_COLS
    observation_shape = (2, C4_ROWS, C4_COLS)

    def initial(self, n: int) -> np.ndarray:
        return np.zeros((n, 2), np.uint64)

    def legal(self, states: np.ndarray) -> np.ndarray:
        mask = states[:, 0] | states[:, 1]
        done, _ = self.outcome(states)
        return ((mask[:, None] & _TOP[None]) == 0) & ~done[:, None]

    def apply(self, states: np.ndarray, actions: np.ndarray) -> np.ndarray:
        mine, theirs = states[:, 0], states[:, 1]
        mask = mine | theirs
        move = ((mask + _BOTTOM[actions]) | mask) ^ mask
        return np.stack([theirs, mine | move], 1)

    def outcome(self, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        lost = _has_four(states[:, 1])
        full = np.bitwise_count(states[:, 0] | states[:, 1]) == C4_ROWS * C4_COLS
        return lost | full, np.where(lost, -1.0, 0.0)

    def observe(self, states: np.ndarray) -> np.ndarray:
        bits = (states[:, :, None] >> _CELL_BITS[None, None]) & np.uint64(1)
        return bits.astype(np.float32).reshape(len(states), 2, C4_ROWS, C4_COLS)

    def to_move(self, states: np.ndarray) -> np.ndarray:
        return (np.bitwise_count(states[:, 0] | states[:, 1]) % 2).astype(np.int64)

    def symmetries(self) -> list[Symmetry]:
        index = np.arange(C4_ROWS * C4_COLS).reshape(C4_ROWS, C4_COLS)
        columns = np.arange(C4_COLS)
        return [
            Symmetry(index.ravel(), columns),
            Symmetry(np.fliplr(index).ravel().copy(), columns[::-1].copy()),
        ]

    def render(self, state: np.ndarray) -> str:
        planes = self.observe(state[None])[0]
        x_first = int(self.to_move(state[None])[0]) == 0
        x, o = (planes[0], planes[1]) if x_first else (planes[1], planes[0])
        rows = [
            "".join("X" if x[r, c] else "O" if o[r, c] else "." for c in range(C4_COLS))
            for r in range(C4_ROWS)
        ]
        return "\n".join(reversed(rows)) + "\n" + "".join(str(c) for c in range(C4_COLS))


GAMES = ("tic_tac_toe", "connect_four", "go_7x7", "go_9x9")


def make_game(name: str) -> Game:
    """The game called ``name`` (one of :data:`GAMES`); Go needs the ``games`` extra (OpenSpiel)."""
    if name == "tic_tac_toe":
        return TicTacToe()
    if name == "connect_four":
        return ConnectFour()
    if name in ("go_7x7", "go_9x9"):
        from leyden_rl.alphazero.go import OpenSpielGo

        return OpenSpielGo(int(name[-1]))
    raise LeydenConfigError(f"unknown game {name!r}", f"choose one of {', '.join(GAMES)}")
