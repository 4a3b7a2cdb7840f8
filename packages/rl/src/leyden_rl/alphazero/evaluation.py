"""Matches during training: the agent against fixed opponents and its previous best self, Elo-style."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import Callback

from leyden_core.errors import LeydenConfigError
from leyden_core.wandb_logging import log_table
from leyden_rl.alphazero.players import (
    MatchResult,
    Player,
    RandomPlayer,
    SearchPlayer,
    play_match,
    pure_mcts_player,
)
from leyden_rl.alphazero.search import NetworkEvaluator

OPPONENTS = ("random", "mcts", "best")


class AlphaZeroEvaluation(Callback):
    """Every ``every_n_steps`` training steps, play ``games_per_colour`` games as each colour against each opponent.

    Opponents: ``random`` (uniform legal moves), ``mcts`` (pure MCTS, ``mcts_simulations`` random
    rollouts per move) and ``best`` (the best network so far, searching as much as the agent; the
    current network replaces it when it scores at least ``promotion_score``). Logs
    ``eval/<opponent>/{score,win_rate,draw_rate,loss_rate,elo}`` and, as a W&B table, the rendered
    board after every move of one game against the first opponent. Matches run on rank 0 only.
    :attr:`history` keeps ``(step, training seconds, env_steps, opponent, score)`` for learning curves
    (training seconds: the model's self-play and update time, evaluation excluded).

    Args:
        num_simulations: the agent's search per move (default: the model's ``num_simulations``).
    """

    def __init__(
        self,
        every_n_steps: int = 10,
        games_per_colour: int = 10,
        opponents: Sequence[str] = OPPONENTS,
        mcts_simulations: int = 200,
        num_simulations: int | None = None,
        promotion_score: float = 0.55,
        seed: int = 12_345,
    ) -> None:
        unknown = sorted(set(opponents) - set(OPPONENTS))
        if unknown:
            raise LeydenConfigError(f"unknown opponents {unknown}", f"choose from {', '.join(OPPONENTS)}")
        self.every_n_steps, self.games_per_colour, self.opponents = (
            every_n_steps,
            games_per_colour,
            tuple(opponents),
        )
        self.mcts_simulations, self.num_simulations = mcts_simulations, num_simulations
        self.promotion_score, self.seed = promotion_score, seed
        self.history: list[tuple[int, float, int, str, float]] = []
        self.best_state: dict | None = None

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.best_state is None:
            self.best_state = copy.deepcopy(pl_module.network.state_dict())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if pl_module.iterations % self.every_n_steps or not trainer.is_global_zero:
            return
        metrics = self.evaluate(trainer, pl_module)
        if trainer.logger is not None:
            trainer.logger.log_metrics(metrics, step=trainer.global_step)

    def opponent(self, name: str, pl_module: pl.LightningModule, rng: np.random.Generator) -> Player:
        if name == "random":
            return RandomPlayer()
        if name == "mcts":
            return pure_mcts_player(self.mcts_simulations, rng)
        best = copy.deepcopy(pl_module.network)
        best.load_state_dict(self.best_state)
        return SearchPlayer(
            NetworkEvaluator(best.eval(), pl_module.device), pl_module.player(self.num_simulations).config
        )

    def evaluate(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, float]:
        """Play every opponent; returns the metrics (also kept in :attr:`history`)."""
        was_training = pl_module.network.training
        pl_module.network.eval()
        rng = np.random.default_rng([self.seed, pl_module.iterations])
        metrics, sample = {}, None
        for name in self.opponents:
            result = play_match(
                pl_module.game, pl_module.player(self.num_simulations), self.opponent(name, pl_module, rng),
                self.games_per_colour, rng,
            )  # fmt: skip
            sample = sample or result
            metrics.update(self.match_metrics(name, result))
            seconds = pl_module.self_play_seconds + pl_module.update_seconds
            self.history.append((pl_module.iterations, seconds, pl_module.env_steps, name, result.score))
            if name == "best" and result.score >= self.promotion_score:
                self.best_state = copy.deepcopy(pl_module.network.state_dict())
        pl_module.network.train(was_training)
        if sample is not None:
            rows = [[ply, pl_module.game.render(state)] for ply, state in enumerate(sample.sample_game)]
            log_table(trainer, "eval/sample_game", ["ply", "board"], rows)
        return metrics

    @staticmethod
    def match_metrics(name: str, result: MatchResult) -> dict[str, float]:
        n = max(result.games, 1)
        return {
            f"eval/{name}/score": result.score, f"eval/{name}/win_rate": result.wins / n,
            f"eval/{name}/draw_rate": result.draws / n, f"eval/{name}/loss_rate": result.losses / n,
            f"eval/{name}/elo": result.elo_difference(),
        }  # fmt: skip

    def state_dict(self) -> dict:
        return {"history": [list(h) for h in self.history], "best_state": self.best_state}

    def load_state_dict(self, state_dict: dict) -> None:
        self.history = [tuple(h) for h in state_dict["history"]]
        self.best_state = state_dict["best_state"]
