"""AlphaZero's games: own tic-tac-toe and Connect Four against OpenSpiel's rules; Go through OpenSpiel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leyden_core.errors import LeydenConfigError
from leyden_rl.alphazero.games import ConnectFour, TicTacToe, make_game
from leyden_rl.alphazero.search import random_legal_actions
from leyden_rl.alphazero.selfplay import augment


def _pyspiel():
    return pytest.importorskip(
        "pyspiel", reason="OpenSpiel (the rl 'games' extra) is the reference rules engine"
    )


def _play_against_openspiel(game, spiel_name: str, num_games: int, seed: int) -> int:
    """Random games stepped in both engines at once; every position must agree. Returns positions checked."""
    rng = np.random.default_rng(seed)
    spiel_game = _pyspiel().load_game(spiel_name)
    states = game.initial(num_games)
    spiel = [spiel_game.new_initial_state() for _ in range(num_games)]
    active = np.arange(num_games)
    checked = 0
    while len(active):
        legal = game.legal(states)
        for k, g in enumerate(active):
            assert np.flatnonzero(legal[k]).tolist() == spiel[g].legal_actions(), (
                f"game {g}: legal moves differ"
            )
            assert game.to_move(states[k : k + 1])[0] == spiel[g].current_player()
        checked += len(active)
        actions = random_legal_actions(legal, rng)
        states = game.apply(states, actions)
        for k, g in enumerate(active):
            spiel[g].apply_action(int(actions[k]))
        done, value = game.outcome(states)
        for k, g in enumerate(active):
            assert bool(done[k]) == spiel[g].is_terminal(), f"game {g}: end of game differs"
            if done[k]:
                mover = len(spiel[g].history()) % 2  # the player who would move next
                assert value[k] == spiel[g].returns()[mover], f"game {g}: result differs"
        active, states = active[~done], states[~done]
    return checked


def test_tic_tac_toe_follows_openspiel_on_random_games():
    assert _play_against_openspiel(TicTacToe(), "tic_tac_toe", 3000, seed=0) > 20_000


def test_connect_four_bitboards_follow_openspiel_on_random_games():
    assert _play_against_openspiel(ConnectFour(), "connect_four", 3000, seed=1) > 50_000


def test_connect_four_observation_matches_openspiel_board():
    """The canonical planes show the mover's and the opponent's stones where OpenSpiel has x's and o's."""
    game, rng = ConnectFour(), np.random.default_rng(2)
    state, spiel = game.initial(1), _pyspiel().load_game("connect_four").new_initial_state()
    for _ in range(42):
        x, o, _ = np.asarray(spiel.observation_tensor(0)).reshape(3, 6, 7)  # rows from the bottom
        mine, theirs = game.observe(state)[0]
        x_to_move = game.to_move(state)[0] == 0
        assert np.array_equal(mine, x if x_to_move else o) and np.array_equal(theirs, o if x_to_move else x)
        if spiel.is_terminal():
            break
        action = random_legal_actions(game.legal(state), rng)
        state = game.apply(state, action)
        spiel.apply_action(int(action[0]))


def test_winning_move_leaves_the_loser_to_move_with_value_minus_one():
    game = TicTacToe()
    states = game.initial(1)
    for action in (0, 3, 1, 4, 2):  # X completes the top row
        states = game.apply(states, np.array([action]))
    done, value = game.outcome(states)
    assert done[0] and value[0] == -1.0 and game.to_move(states)[0] == 1  # O to move, and O has lost
    assert not game.legal(states).any()


@pytest.mark.parametrize("name", ["tic_tac_toe", "connect_four", "go_7x7"])
def test_symmetries_keep_legal_moves_on_the_empty_cells(name):
    """Transforming planes and a policy with one symmetry keeps "move a goes on cell c" true."""
    if name.startswith("go"):
        _pyspiel()
    game, rng = make_game(name), np.random.default_rng(3)
    states = game.initial(8)
    for _ in range(5):
        states = game.apply(states, random_legal_actions(game.legal(states), rng))
    planes = torch.from_numpy(game.observe(states))
    legal = torch.from_numpy(game.legal(states)).float()
    symmetries = game.symmetries()
    for k in range(len(symmetries)):
        new_planes, new_legal = augment(planes, legal, symmetries, torch.full((8,), k))
        assert torch.equal(new_planes.sum((1, 2, 3)), planes.sum((1, 2, 3)))
        occupied = (new_planes[:, 0] + new_planes[:, 1]).flatten(1) > 0  # (N, H*W)
        if name == "connect_four":  # a column is playable iff its top cell is empty
            top = occupied.reshape(8, 6, 7)[:, -1]
            assert torch.equal(new_legal > 0, ~top)
        else:  # a cell move is legal only on an empty cell (Go may also forbid suicide and ko)
            cells = new_legal[:, : occupied.shape[1]] > 0
            assert not (cells & occupied).any()
        if name == "go_7x7":
            assert torch.equal(new_legal[:, -1], legal[:, -1]), "pass stays pass"


def test_dihedral_symmetry_is_the_numpy_rotation():
    board = np.arange(9).reshape(3, 3)
    planes = torch.from_numpy(board[None, None].astype(np.float32))
    symmetries = TicTacToe().symmetries()
    rotated, _ = augment(planes, torch.zeros(1, 9), symmetries, torch.tensor([1]))
    assert np.array_equal(rotated[0, 0].numpy(), np.rot90(board, 1))
    assert len({tuple(s.cells) for s in symmetries}) == 8


def test_go_plays_to_the_end_with_canonical_planes():
    _pyspiel()
    game, rng = make_game("go_7x7"), np.random.default_rng(4)
    assert game.num_actions == 50 and game.observation_shape == (4, 7, 7)
    state = game.apply(game.initial(1), np.array([24]))  # black takes the centre
    planes = game.observe(state)[0]
    assert planes[1, 3, 3] == 1 and planes[0].sum() == 0 and planes[3].min() == 1  # white to move
    moves = 1
    while not game.outcome(state)[0][0]:
        state = game.apply(state, random_legal_actions(game.legal(state), rng))
        moves += 1
    done, value = game.outcome(state)
    assert moves <= game.spiel_game.max_game_length() and value[0] in (-1.0, 0.0, 1.0)
    assert not game.legal(state).any()


def test_unknown_game_is_a_config_error():
    with pytest.raises(LeydenConfigError, match="tic_tac_toe"):
        make_game("chess")
