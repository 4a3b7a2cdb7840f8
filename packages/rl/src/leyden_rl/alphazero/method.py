"""AlphaZero (Silver et al., 2018) as a LightningModule: self-play with PUCT search, then (π, z) regression.

Each ``training_step`` (manual optimisation) is one round of the algorithm:

1. **self-play** — ``num_games`` games played to the end in parallel on this rank, every move chosen
   by ``num_simulations`` PUCT simulations whose leaves are evaluated by the current network in one
   batch across games, with Dirichlet noise at the root and visit-count sampling for the first
   ``temperature_moves`` moves (:func:`~leyden_rl.alphazero.selfplay.self_play`);
2. the positions, their search policies π and outcomes z (each from the view of the player to move)
   enter the **replay window** of the last ``replay_capacity`` positions;
3. ``updates_per_step`` gradient steps on minibatches drawn from the window, each position under a
   random board symmetry (:func:`~leyden_rl.alphazero.selfplay.augment`), on ``(z - v)² - π·log p``
   with weight decay.

``env_steps`` counts self-play moves on this rank; training stops once it reaches ``total_env_steps``.
Under DDP every rank plays its own games (its own random streams) and ``manual_backward`` averages
the gradients, so the weights stay identical (batch-norm running statistics are averaged after each
step's updates, so they do too). The random streams of step ``i`` are derived from
``(seed, rank, i)``, so the checkpoint — network, optimizer, replay window and counters — is all a
run needs to continue exactly as if never interrupted.
"""

from __future__ import annotations

import time
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader

from leyden_core.checks import check_count, check_fraction, check_non_negative, check_positive
from leyden_core.distributed import all_reduce_mean, rank
from leyden_core.progress import TrainingProgress
from leyden_rl.alphazero.games import Game, make_game
from leyden_rl.alphazero.network import PolicyValueNet, alphazero_loss
from leyden_rl.alphazero.players import SearchPlayer
from leyden_rl.alphazero.search import NetworkEvaluator, SearchConfig, SearchStats
from leyden_rl.alphazero.selfplay import ReplayWindow, augment, self_play
from leyden_rl.base import EnvStepBudget, steps_dataloader


class AlphaZero(EnvStepBudget, pl.LightningModule):
    """AlphaZero on tic-tac-toe, Connect Four or Go (7×7, 9×9).

    Args:
        game: ``tic_tac_toe``, ``connect_four``, ``go_7x7`` or ``go_9x9`` (Go needs the ``games`` extra).
        blocks, channels, value_hidden: the residual tower's depth and width, the value head's hidden width.
        num_games: self-play games played in parallel per training step (per rank): the search's batch.
        num_simulations: PUCT simulations per self-play move.
        c_puct: exploration weight of PUCT.
        dirichlet_alpha, dirichlet_fraction: root noise in self-play (AlphaZero: alpha ≈ 10 / typical
            number of legal moves, fraction 0.25).
        temperature_moves: moves of each game drawn ∝ visit counts; later moves take the most visited.
        replay_capacity: positions kept in the replay window (per rank).
        batch_size, updates_per_step: minibatch size and gradient steps per training step.
        learning_rate, weight_decay: AdamW's.
        total_env_steps: budget of self-play moves (positions) on this rank.
        seed: initial weights and every random draw (rank r of step i draws from ``(seed, r, i)``).
    """

    def __init__(
        self,
        game: str = "tic_tac_toe",
        blocks: int = 2,
        channels: int = 32,
        value_hidden: int = 32,
        num_games: int = 32,
        num_simulations: int = 50,
        c_puct: float = 1.5,
        dirichlet_alpha: float = 0.3,
        dirichlet_fraction: float = 0.25,
        temperature_moves: int = 4,
        replay_capacity: int = 20_000,
        batch_size: int = 256,
        updates_per_step: int = 20,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        total_env_steps: int = 30_000,
        seed: int = 0,
    ) -> None:
        super().__init__()
        for name, value in (("blocks", blocks), ("channels", channels), ("num_games", num_games),
                            ("num_simulations", num_simulations), ("replay_capacity", replay_capacity),
                            ("batch_size", batch_size), ("updates_per_step", updates_per_step),
                            ("total_env_steps", total_env_steps), ("value_hidden", value_hidden)):  # fmt: skip
            check_count(name, value)
        check_count("temperature_moves", temperature_moves, minimum=0)
        check_positive("c_puct", c_puct, 1.5)
        check_positive("dirichlet_alpha", dirichlet_alpha, 0.3)
        check_fraction("dirichlet_fraction", dirichlet_fraction, 0.25)
        check_positive("learning_rate", learning_rate, 1e-3)
        check_non_negative("weight_decay", weight_decay, 1e-4)
        self.save_hyperparameters()
        self.automatic_optimization = False
        self.game: Game = make_game(game)
        torch.manual_seed(seed)  # the initial weights follow the seed (and are equal on every DDP rank)
        self.network = PolicyValueNet(
            self.game.observation_shape, self.game.num_actions, blocks, channels, value_hidden
        )
        self.window = ReplayWindow(replay_capacity, self.game.observation_shape, self.game.num_actions)
        self.symmetries = self.game.symmetries()
        self.search_config = SearchConfig(num_simulations, c_puct, dirichlet_alpha, dirichlet_fraction)
        self.total_env_steps = total_env_steps  # the budget EnvStepBudget reads (progress bar, checks)
        self.env_steps, self.iterations, self.games_played = 0, 0, 0
        self.search_stats = SearchStats()
        self.self_play_seconds, self.update_seconds = 0.0, 0.0

    # ------------------------------------------------------------------ loop plumbing
    def train_dataloader(self) -> DataLoader:
        # every game lasts at least one move, so this many steps always spends the budget
        return steps_dataloader(-(-self.hparams.total_env_steps // self.hparams.num_games))

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.check_fit_budget()

    def training_progress(self) -> TrainingProgress:
        progress = super().training_progress()
        return TrainingProgress(progress.done, progress.total, "self-play moves")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.AdamW(self.network.parameters(), lr=hp.learning_rate, weight_decay=hp.weight_decay)

    def forward(self, planes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.network(planes)

    def player(self, num_simulations: int | None = None) -> SearchPlayer:
        """The trained agent for matches: search with this network (no noise), most visited move."""
        config = SearchConfig(num_simulations or self.hparams.num_simulations, self.hparams.c_puct)
        return SearchPlayer(NetworkEvaluator(self.network, self.device), config)

    # ------------------------------------------------------------------ one AlphaZero round
    def training_step(self, batch: torch.Tensor, batch_idx: int) -> None:
        hp = self.hparams
        start = time.perf_counter()
        self.network.eval()  # batch-norm running statistics during search
        games = self_play(
            self.game, NetworkEvaluator(self.network, self.device), self.search_config, hp.num_games,
            hp.temperature_moves, np.random.default_rng([hp.seed, rank(), self.iterations]), self.search_stats,
        )  # fmt: skip
        self.network.train()
        self.window.add(games)
        self.env_steps += len(games.values)
        self.games_played += hp.num_games
        middle = time.perf_counter()
        metrics = self.update(
            torch.Generator().manual_seed(hp.seed * 1_000_003 + rank() * 7_919 + self.iterations)
        )
        self.update_seconds += time.perf_counter() - middle
        self.self_play_seconds += middle - start
        self.iterations += 1
        if self.env_steps >= hp.total_env_steps:
            self.trainer.should_stop = True
        results = np.array(games.first_player_results)
        metrics.update({
            "train/env_steps": float(self.env_steps), "train/games": float(self.games_played),
            "train/game_length": float(np.mean(games.game_lengths)),
            "train/first_player_wins": float((results > 0).mean()), "train/draws": float((results == 0).mean()),
            **{f"speed/{k}": v for k, v in self.speed().items()},
        })  # fmt: skip
        self.log_dict(metrics, on_step=True, on_epoch=False, prog_bar=False)

    def update(self, generator: torch.Generator) -> dict[str, float]:
        """``updates_per_step`` AdamW steps on symmetry-augmented minibatches from the replay window."""
        hp, opt = self.hparams, self.optimizers()
        sums: dict[str, float] = {}
        for _ in range(hp.updates_per_step):
            planes, policies, values = self.window.sample(hp.batch_size, generator)
            choice = torch.randint(len(self.symmetries), (hp.batch_size,), generator=generator)
            planes, policies = augment(planes, policies, self.symmetries, choice)
            logits, predicted = self.network(planes.to(self.device))
            loss, parts = alphazero_loss(logits, predicted, policies.to(self.device), values.to(self.device))
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
            for key, value in parts.items():
                sums[key] = sums.get(key, 0.0) + float(value)
        for buffer in self.network.buffers():  # batch-norm statistics: every rank's data, as the gradients
            if buffer.is_floating_point():
                all_reduce_mean(buffer)
        return {f"train/{key}": value / hp.updates_per_step for key, value in sums.items()}

    def speed(self) -> dict[str, float]:
        """Self-play positions and search simulations per second, and where search time goes."""
        stats = self.search_stats
        out = {
            "positions_per_s": self.env_steps / max(self.self_play_seconds, 1e-9),
            "simulations_per_s": stats.simulations / max(stats.total_s, 1e-9),
            "self_play_share": self.self_play_seconds
            / max(self.self_play_seconds + self.update_seconds, 1e-9),
        }
        shares = stats.shares()
        out.update(
            {"network_share": shares["evaluator"], "game_share": shares["game"], "tree_share": shares["tree"]}
        )
        return out

    # ------------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["leyden_alphazero"] = {
            "env_steps": self.env_steps, "iterations": self.iterations, "games_played": self.games_played,
            "window": self.window.state_dict(),
            "self_play_seconds": self.self_play_seconds, "update_seconds": self.update_seconds,
        }  # fmt: skip

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        state = checkpoint["leyden_alphazero"]
        self.env_steps, self.iterations, self.games_played = (
            state["env_steps"],
            state["iterations"],
            state["games_played"],
        )
        self.window.load_state_dict(state["window"])
        self.self_play_seconds, self.update_seconds = state["self_play_seconds"], state["update_seconds"]
