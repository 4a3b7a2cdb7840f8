"""PUCT search and self-play targets: winning and blocking moves, value signs, matches, symmetry alignment."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from leyden_rl.alphazero.games import ConnectFour, TicTacToe
from leyden_rl.alphazero.network import PolicyValueNet
from leyden_rl.alphazero.players import MinimaxPlayer, RandomPlayer, play_match, pure_mcts_player
from leyden_rl.alphazero.search import (
    NetworkEvaluator,
    RolloutEvaluator,
    SearchConfig,
    SearchStats,
    UniformEvaluator,
    add_root_noise,
    choose_actions,
    search,
)
from leyden_rl.alphazero.selfplay import ReplayWindow, augment, outcome_targets, self_play


def _position(game, moves):
    states = game.initial(1)
    for action in moves:
        states = game.apply(states, np.array([action]))
    return states


# (game, moves so far, the one right move): X to move in each
POSITIONS = {
    "ttt_mate_in_one": (TicTacToe(), [0, 3, 1, 4], 2),  # X completes the top row (O's threat on 5 can wait)
    "ttt_block": (TicTacToe(), [0, 3, 8, 4], 5),  # X has no win; O threatens the middle row
    "c4_mate_in_one": (ConnectFour(), [0, 1, 0, 1, 0, 2], 0),  # X's fourth stone in column 0
    "c4_block": (ConnectFour(), [6, 3, 6, 3, 5, 3], 3),  # O has three in column 3
}


@pytest.mark.parametrize("evaluator", ["uniform", "rollouts"])
@pytest.mark.parametrize("name", sorted(POSITIONS))
def test_search_finds_the_winning_or_blocking_move(name, evaluator):
    game, moves, best = POSITIONS[name]
    rng = np.random.default_rng(0)
    if evaluator == "uniform":  # AlphaZero's PUCT; only the game's own terminal values inform it
        evaluate, config = UniformEvaluator(), SearchConfig(num_simulations=300)
    else:  # pure MCTS: UCT with random rollouts
        evaluate, config = RolloutEvaluator(rng), SearchConfig(num_simulations=300, c_puct=2.0, uct=True)
    result = search(game, _position(game, moves), evaluate, config, rng)
    assert result.visits[0].argmax() == best, result.visits[0]
    if name.endswith("mate_in_one"):
        assert result.root_values[0] > 0.5, "a forced win is worth nearly +1 to the player to move"


def test_search_batches_several_games_and_counts_its_time():
    game = ConnectFour()
    states = game.stack(
        [_position(game, m)[0] for _, m, _ in (POSITIONS["c4_mate_in_one"], POSITIONS["c4_block"])]
    )
    stats = SearchStats()
    calls = []

    def counting(game_, states_, legal):
        calls.append(len(legal))
        return UniformEvaluator()(game_, states_, legal)

    result = search(
        game, states, counting, SearchConfig(num_simulations=200), np.random.default_rng(1), stats
    )
    assert result.visits[:, [0, 3]].argmax(1).tolist() == [0, 1]
    assert result.visits.sum(1).tolist() == [200, 200]
    assert max(calls) == 2 and len(calls) <= 201, "one evaluator call serves both games in a round"
    assert stats.simulations == 400 and stats.total_s >= stats.evaluator_s + stats.game_s > 0


def test_outcome_targets_take_the_view_of_the_player_to_move():
    # 5 moves, then the player to move (O) has lost: X won, and X was to move at positions 0, 2, 4
    assert outcome_targets(-1.0, 5).tolist() == [1, -1, 1, -1, 1]
    assert outcome_targets(0.0, 9).tolist() == [0] * 9
    assert outcome_targets(-1.0, 6).tolist() == [-1, 1, -1, 1, -1, 1]  # O won with the 6th move


def test_self_play_targets_agree_with_each_game_result():
    game = TicTacToe()
    batch = self_play(game, UniformEvaluator(), SearchConfig(8, dirichlet_fraction=0.25), 6, 9,
                      np.random.default_rng(2))  # fmt: skip
    assert len(batch.values) == sum(batch.game_lengths) == len(batch.policies) == len(batch.observations)
    np.testing.assert_allclose(batch.policies.sum(1), 1.0, rtol=1e-6)
    start = 0
    for length, result in zip(batch.game_lengths, batch.first_player_results):
        z = batch.values[start : start + length]
        assert z[0::2].tolist() == [result] * len(z[0::2]) and z[1::2].tolist() == [-result] * len(z[1::2])
        first = batch.observations[start]
        assert first.sum() == 0, "each game starts from the empty board"
        start += length
    assert any(r != 0 for r in batch.first_player_results), "weak random-ish play ends some games decisively"


def test_augmented_policy_stays_on_the_transformed_board():
    """A policy target pointing at a stone's cell still points at that stone after every symmetry."""
    game = TicTacToe()
    symmetries = game.symmetries()
    cells = torch.arange(9)
    planes = torch.zeros(9, 2, 3, 3)
    planes[cells, 0, cells // 3, cells % 3] = 1  # a single stone on cell i
    policies = torch.eye(9)  # the target move on that same cell
    for k in range(len(symmetries)):
        new_planes, new_policies = augment(planes, policies, symmetries, torch.full((9,), k))
        assert torch.equal(new_planes[:, 0].flatten(1).argmax(1), new_policies.argmax(1))
        assert sorted(new_planes[:, 0].flatten(1).argmax(1).tolist()) == list(range(9))


def test_replay_window_keeps_the_latest_positions_and_round_trips():
    game = TicTacToe()
    window = ReplayWindow(10, game.observation_shape, game.num_actions)
    for seed in range(3):
        window.add(self_play(game, UniformEvaluator(), SearchConfig(2), 2, 9, np.random.default_rng(seed)))
    assert window.size == 10
    copy = ReplayWindow(10, game.observation_shape, game.num_actions)
    copy.load_state_dict(window.state_dict())
    generator = torch.Generator().manual_seed(0)
    sample = window.sample(5, generator)
    again = copy.sample(5, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(sample, again))


def test_root_noise_only_on_legal_moves_and_temperature():
    game = TicTacToe()
    result = search(game, _position(game, [4]), UniformEvaluator(), SearchConfig(4), np.random.default_rng(0))
    root = result.roots[0]
    add_root_noise(root, 0.3, 0.25, np.random.default_rng(1))
    assert root.prior[4] == 0 and np.isclose(root.prior.sum(), 1.0)
    visits = np.array([[0, 5, 1, 5.0]])
    greedy = {int(choose_actions(visits, 0.0, np.random.default_rng(s))[0]) for s in range(20)}
    assert greedy == {1, 3}, "T = 0 plays a most visited move, ties broken at random"
    sampled = {int(choose_actions(visits, 1.0, np.random.default_rng(s))[0]) for s in range(200)}
    assert sampled == {1, 2, 3}


def test_minimax_never_loses_and_beats_random():
    game, rng = TicTacToe(), np.random.default_rng(0)
    against_random = play_match(game, MinimaxPlayer(), RandomPlayer(), 50, rng)
    assert against_random.losses == 0 and against_random.wins > 80
    against_itself = play_match(game, MinimaxPlayer(), MinimaxPlayer(), 10, rng)
    assert against_itself.draws == 20, "perfect play draws"
    assert against_random.elo_difference() > 300 and abs(against_itself.elo_difference()) < 1e-6


def test_match_counts_results_for_each_colour_and_keeps_a_sample_game():
    game = ConnectFour()
    mcts = pure_mcts_player(100, np.random.default_rng(1))
    result = play_match(game, mcts, RandomPlayer(), 4, np.random.default_rng(2))
    assert result.games == 8 and result.wins >= 6
    done, _ = game.outcome(result.sample_game[-1][None])
    assert done[0] and len(result.sample_game) >= 8
    assert "X" in game.render(result.sample_game[-1])


def test_network_evaluator_masks_illegal_moves():
    game = TicTacToe()
    net = PolicyValueNet(
        game.observation_shape, game.num_actions, blocks=1, channels=8, value_hidden=8
    ).eval()
    states = _position(game, [0, 4])
    priors, values = NetworkEvaluator(net)(game, states, game.legal(states))
    assert priors[0, [0, 4]].tolist() == [0, 0] and np.isclose(priors.sum(), 1.0, atol=1e-6)
    assert -1 <= values[0] <= 1
