"""AlphaZero on tic-tac-toe, Connect Four and 7×7 Go: playing strength against fixed opponents, and speed.

* tic-tac-toe — per seed, train with examples/rl/alphazero_tictactoe.yaml, then play a perfect
  (minimax) player 100 games as each colour: losses (target 0), draws, wins. Beside it, with the same
  search budget: the untrained network, and pure MCTS with random rollouts; and the trained network's
  policy alone (one simulation: the prior's favourite move).
* Connect Four — train with examples/rl/alphazero_connect4.yaml for ``--c4-budget-s`` CPU-seconds
  (one thread: 7,200 is the issue's "2 hours on 2 cores" with one core left for the rest); every
  ``--eval-every-s`` CPU-seconds of training, play pure MCTS (UCT, ``--mcts-rollouts`` random rollouts per
  move) as both colours: the learning curve of win rate against training time (evaluation excluded).
* Go 7×7 (OpenSpiel) — train with examples/rl/alphazero_go7_cpu.yaml for ``--go-budget-s`` CPU-seconds,
  then play a random player and pure MCTS.
* speed — self-play positions and search simulations per second, and the share of search time in the
  network, the game engine and the tree code (from each training run).

    python benchmarks/alphazero.py --quick              # 1 seed: tic-tac-toe, short Connect Four and Go runs
    python benchmarks/alphazero.py --seeds 3            # the full benchmark (Connect Four: 2 h per seed)
    python benchmarks/alphazero.py --games tic_tac_toe --seeds 3   # rewrites the tic-tac-toe rows of results/alphazero.json
    python benchmarks/alphazero.py --games connect_four --seeds 1 --first-seed 1   # one seed's rows

A Connect Four run keeps ``last.ckpt`` under ``--run-dir`` (with its clock and curve so far): stopped
by SIGTERM or Ctrl-C, the same command continues it.

One torch thread (OMP_NUM_THREADS=1), W&B off.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from leyden_core.benchmarking import merge_results, result_row  # noqa: E402
from leyden_core.callbacks import LastCheckpointOnException  # noqa: E402
from leyden_core.checkpointing import LeydenCheckpoint  # noqa: E402
from leyden_rl.alphazero import AlphaZero  # noqa: E402
from leyden_rl.alphazero.players import (  # noqa: E402
    MinimaxPlayer,
    Player,
    RandomPlayer,
    play_match,
    pure_mcts_player,
)

EXAMPLES = Path(__file__).parents[1] / "examples" / "rl"
METHOD = "leyden.AlphaZero"
GAMES = "tic_tac_toe,connect_four,go_7x7"


class TimedEvaluation(pl.Callback):
    """Every ``every_s`` CPU-seconds of training: play ``opponents``; stop training after ``budget_s``.

    The clock counts this process's CPU time inside training steps only (one thread: the work done,
    whatever else shares the machine), so the curve excludes evaluation; wall time is kept beside it.
    """

    def __init__(self, opponents: dict[str, Player], games_per_colour: int, every_s: float, budget_s: float,
                 seed: int) -> None:  # fmt: skip
        self.opponents, self.games_per_colour, self.seed = opponents, games_per_colour, seed
        self.every_s, self.budget_s, self.next_s = every_s, budget_s, every_s
        self.cpu_s, self.wall_s = 0.0, 0.0
        self.curve: list[tuple[float, float, int, str, int, int, int]] = []

    def state_dict(self) -> dict:
        # the clock and the curve so far travel in the checkpoint: a resumed run continues both
        return {"cpu_s": self.cpu_s, "wall_s": self.wall_s, "next_s": self.next_s, "curve": self.curve}

    def load_state_dict(self, state: dict) -> None:
        self.cpu_s, self.wall_s, self.next_s = state["cpu_s"], state["wall_s"], state["next_s"]
        self.curve = [tuple(point) for point in state["curve"]]

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._cpu, self._wall = time.process_time(), time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.cpu_s += time.process_time() - self._cpu
        self.wall_s += time.perf_counter() - self._wall
        last = self.cpu_s >= self.budget_s or trainer.should_stop
        if last:
            trainer.should_stop = True
        if self.cpu_s >= self.next_s or last:
            self.next_s = (self.cpu_s // self.every_s + 1) * self.every_s
            self.evaluate(pl_module)

    def evaluate(self, pl_module: AlphaZero) -> None:
        pl_module.network.eval()
        rng = np.random.default_rng([self.seed, pl_module.iterations])
        for name, opponent in self.opponents.items():
            r = play_match(pl_module.game, pl_module.player(), opponent, self.games_per_colour, rng)
            self.curve.append((self.cpu_s, self.wall_s, pl_module.env_steps, name, r.wins, r.draws, r.losses))
            print(f"  {self.cpu_s:7.0f} CPU-s ({self.wall_s:.0f} s wall) {pl_module.env_steps:8d} moves vs {name}: "
                  f"win {r.wins} draw {r.draws} loss {r.losses}", flush=True)  # fmt: skip
        pl_module.network.train()


def build(config: str, seed: int, **overrides) -> AlphaZero:
    """AlphaZero with an example config's settings (``overrides`` win, e.g. the budget ``total_env_steps``)."""
    args = yaml.safe_load((EXAMPLES / config).read_text())["model"]["init_args"]
    return AlphaZero(**{**args, **overrides, "seed": seed})


def train(config: str, seed: int, callbacks: list[pl.Callback], run_dir: Path | None = None,
          **overrides) -> AlphaZero:  # fmt: skip
    """Train with the config's settings; with ``run_dir``, keep ``last.ckpt`` there and resume from it.

    The checkpoint is written every 50,000 self-play moves and on SIGTERM or Ctrl-C, and holds the
    callbacks' state (the evaluation clock and curve), so a long run can be stopped and continued.
    """
    model = build(config, seed, **overrides)
    resume = None
    if run_dir is not None:
        callbacks = [*callbacks, LeydenCheckpoint(dirpath=run_dir, every_n_env_steps=50_000),
                     LastCheckpointOnException(run_dir)]  # fmt: skip
        if (run_dir / "last.ckpt").exists():
            resume = run_dir / "last.ckpt"
            print(f"  resuming from {resume}", flush=True)
    trainer = pl.Trainer(max_epochs=-1, logger=False, enable_checkpointing=run_dir is not None,
                         enable_progress_bar=False, enable_model_summary=False, accelerator="cpu",
                         callbacks=callbacks)  # fmt: skip
    trainer.fit(model, ckpt_path=resume)
    model.network.eval()
    return model


def speed_rows(model: AlphaZero, clock: TimedEvaluation, setting: str, seed: int) -> list[dict]:
    speed = model.speed()
    speed["positions_per_train_cpu_s"] = model.env_steps / max(clock.cpu_s, 1e-9)  # updates included
    print(f"  speed: {speed['positions_per_s']:.0f} positions/s, {speed['simulations_per_s']:.0f} simulations/s; "
          f"search time: network {speed['network_share']:.0%}, game {speed['game_share']:.0%}, "
          f"tree {speed['tree_share']:.0%}", flush=True)  # fmt: skip
    return [result_row(METHOD, setting, seed, f"speed/{k}", v) for k, v in speed.items()]


def match_rows(method: str, setting: str, seed: int, prefix: str, result) -> list[dict]:
    return [
        result_row(method, setting, seed, f"{prefix}_{k}", getattr(result, k))
        for k in ("losses", "draws", "wins")
    ]


def training_rows(clock: TimedEvaluation, model: AlphaZero, setting: str, seed: int) -> list[dict]:
    return [result_row(METHOD, setting, seed, "train_cpu_s", clock.cpu_s),
            result_row(METHOD, setting, seed, "train_wall_s", clock.wall_s),
            result_row(METHOD, setting, seed, "self_play_moves", model.env_steps)]  # fmt: skip


def curve_rows(clock: TimedEvaluation, setting: str, seed: int) -> list[dict]:
    """The learning curve: win and loss rates against each opponent at each evaluation, named by its
    scheduled time (a multiple of ``every_s`` CPU-seconds; evaluations start at the first step past it),
    so every seed has the same points."""
    rows = []
    for cpu_s, _, _, name, wins, draws, losses in clock.curve:
        n, mark = wins + draws + losses, clock.every_s * round(cpu_s / clock.every_s)
        at = f"{mark:.0f}" if abs(cpu_s - mark) < 0.1 * clock.every_s else f"{cpu_s:.0f}"
        rows.append(result_row(METHOD, f"{setting}/{name}", seed, f"win_rate_at_{at}_cpu_s", wins / n))
        rows.append(result_row(METHOD, f"{setting}/{name}", seed, f"loss_rate_at_{at}_cpu_s", losses / n))
    return rows


def final_rows(clock: TimedEvaluation, setting: str, seed: int) -> list[dict]:
    """Win, draw and loss rates of the evaluation at the end of training, per opponent."""
    last = {name: (wins, draws, losses) for _, _, _, name, wins, draws, losses in clock.curve}
    rows = []
    for name, (wins, draws, losses) in last.items():
        n = wins + draws + losses
        for metric, value in (("win_rate", wins / n), ("draw_rate", draws / n), ("loss_rate", losses / n)):
            rows.append(result_row(METHOD, f"{setting}/{name}", seed, f"final_{metric}", value))
    return rows


def tic_tac_toe(seed: int, every_s: float, games_per_colour: int) -> list[dict]:
    setting, rng = "tic_tac_toe", np.random.default_rng(seed)
    minimax = MinimaxPlayer()
    untrained = build("alphazero_tictactoe.yaml", seed)  # the initial weights of this seed's run
    untrained.network.eval()
    clock = TimedEvaluation({"minimax": minimax}, 10, every_s=every_s, budget_s=float("inf"), seed=seed)
    model = train("alphazero_tictactoe.yaml", seed, [clock])  # the config's budget of self-play moves
    sims = model.hparams.num_simulations
    rows = training_rows(clock, model, setting, seed) + curve_rows(clock, setting, seed)
    for method, player, prefix in (
        (METHOD, model.player(), "vs_minimax"),
        (METHOD, model.player(num_simulations=1), "policy_only_vs_minimax"),
        ("untrained_network", untrained.player(), "vs_minimax"),
        (f"pure_mcts_{sims}_rollouts", pure_mcts_player(sims, np.random.default_rng(seed)), "vs_minimax"),
    ):
        result = play_match(model.game, player, minimax, games_per_colour, rng)
        print(f"  {method} {prefix}: loss {result.losses} draw {result.draws} win {result.wins}", flush=True)
        rows += match_rows(method, setting, seed, prefix, result)
    return rows + speed_rows(model, clock, setting, seed)


def connect_four(
    seed: int, budget_s: float, every_s: float, rollouts: int, games_per_colour: int, run_dir: Path | None
) -> list[dict]:
    setting = "connect_four"
    opponent = {f"mcts_{rollouts}": pure_mcts_player(rollouts, np.random.default_rng(seed))}
    clock = TimedEvaluation(opponent, games_per_colour, every_s, budget_s, seed)
    run = run_dir / f"{setting}_seed{seed}" if run_dir else None  # a quick run starts afresh
    model = train("alphazero_connect4.yaml", seed, [clock], run, total_env_steps=10**9)
    rows = training_rows(clock, model, setting, seed) + curve_rows(clock, setting, seed)
    return rows + final_rows(clock, setting, seed) + speed_rows(model, clock, setting, seed)


def go(seed: int, budget_s: float, rollouts: int, games_per_colour: int) -> list[dict]:
    setting = "go_7x7"
    opponents = {
        "random": RandomPlayer(),
        f"mcts_{rollouts}": pure_mcts_player(rollouts, np.random.default_rng(seed)),
    }
    clock = TimedEvaluation(opponents, games_per_colour, budget_s, budget_s, seed)
    model = train("alphazero_go7_cpu.yaml", seed, [clock], total_env_steps=10**9)
    rows = training_rows(clock, model, setting, seed)
    return rows + final_rows(clock, setting, seed) + speed_rows(model, clock, setting, seed)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, short training budgets")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--games", default=GAMES, help="a comma-separated selection of " + GAMES)
    parser.add_argument("--ttt-eval-every-s", type=float, default=60.0)
    parser.add_argument("--c4-budget-s", type=float, default=7200.0)
    parser.add_argument("--eval-every-s", type=float, default=600.0)
    parser.add_argument("--mcts-rollouts", type=int, default=1000)
    parser.add_argument("--go-budget-s", type=float, default=1800.0)
    parser.add_argument("--run-dir", type=Path, default=Path("runs/alphazero"),
                        help="Connect Four's last.ckpt per seed (full runs): an interrupted run resumes from it")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    games = args.games.split(",")
    if args.quick:
        args.seeds, args.c4_budget_s, args.eval_every_s, args.go_budget_s = 1, 300.0, 100.0, 120.0
        args.mcts_rollouts = min(args.mcts_rollouts, 200)
    # one results file: a run of some games and seeds replaces their rows and keeps the others' (and their
    # commands), also those another process writes meanwhile, so seeds can run as parallel processes
    name = "alphazero_quick" if args.quick else "alphazero"
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    rows: list[dict] = []
    for seed in seeds:
        started = time.perf_counter()
        if "tic_tac_toe" in games:
            print(f"tic-tac-toe, seed {seed}", flush=True)
            rows += tic_tac_toe(seed, args.ttt_eval_every_s, 100)
        if "connect_four" in games:
            print(f"Connect Four, seed {seed}", flush=True)
            rows += connect_four(seed, args.c4_budget_s, args.eval_every_s, args.mcts_rollouts,
                                 5 if args.quick else 10, None if args.quick else args.run_dir)  # fmt: skip
        if "go_7x7" in games:
            print(f"Go 7x7, seed {seed}", flush=True)
            rows += go(seed, args.go_budget_s, 100 if args.quick else 400, 2 if args.quick else 5)
        print(f"seed {seed}: {time.perf_counter() - started:.0f} s", flush=True)
        merge_results(name, rows, lambda row: row["setting"].split("/")[0] in games and row["seed"] in seeds)


if __name__ == "__main__":
    main()
