"""AlphaZero: games behind a batched interface, PUCT search, a residual policy/value net, self-play training."""

from leyden_rl.alphazero.evaluation import AlphaZeroEvaluation
from leyden_rl.alphazero.games import GAMES, ConnectFour, Game, Symmetry, TicTacToe, make_game
from leyden_rl.alphazero.method import AlphaZero
from leyden_rl.alphazero.network import PolicyValueNet, alphazero_loss
from leyden_rl.alphazero.players import MatchResult, MinimaxPlayer, RandomPlayer, SearchPlayer, play_match
from leyden_rl.alphazero.search import (
    NetworkEvaluator,
    RolloutEvaluator,
    SearchConfig,
    SearchStats,
    UniformEvaluator,
    search,
)
from leyden_rl.alphazero.selfplay import ReplayWindow, augment, outcome_targets, self_play

__all__ = [
    "GAMES", "AlphaZero", "AlphaZeroEvaluation", "ConnectFour", "Game", "MatchResult", "MinimaxPlayer",
    "NetworkEvaluator", "PolicyValueNet", "RandomPlayer", "ReplayWindow", "RolloutEvaluator", "SearchConfig",
    "SearchPlayer", "SearchStats", "Symmetry", "TicTacToe", "UniformEvaluator", "alphazero_loss", "augment",
    "make_game", "outcome_targets", "play_match", "search", "self_play",
]  # fmt: skip
