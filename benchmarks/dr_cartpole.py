"""Physics randomization on CartPole: does a policy trained with randomization survive held-out physics?

PPO (Leyden's ``leyden_rl.PPO``, trained by the Lightning Trainer) is trained three ways:
on nominal CartPole, with fixed randomization (pole length ×U[0.5, 2], pole mass ×logU[0.5, 2]),
and with ADR (both ranges start at nominal and grow while boundary episodes score ≥ t_H).
Each policy (greedy actions) is evaluated on a grid of held-out physics: pole length
×{0.5, 1, 1.5, 2, 3} × pole mass ×{0.5, 1, 2, 4}, mean return per cell. Writes
benchmarks/results/dr_cartpole.json (with ADR's ranges over training), heatmap and ADR-range PNGs,
and prints a table.

    python benchmarks/dr_cartpole.py --quick     # 1 seed, 60k steps, 5 episodes per cell
    python benchmarks/dr_cartpole.py             # 3 seeds, 150k steps, 10 episodes per cell
    python benchmarks/dr_cartpole.py --methods adr adr_slow   # ADR's recipe against the slow one
    python benchmarks/dr_cartpole.py --methods nominal & python benchmarks/dr_cartpole.py --methods adr &
    python benchmarks/dr_cartpole.py --combine nominal adr   # one process per method, merged afterwards

Each ADR recipe is an :class:`ADRRecipe` in :data:`ADR_RECIPES`; ``adr_slow`` is the earlier recipe
(Δ 0.3 / 0.5, buffer 10, thresholds 200 / 400) whose ranges could not reach the grid within the
budget (kept to measure why).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
from gymnasium.vector import AutoresetMode

from leyden_core.benchmarking import result_row, write_results
from leyden_rl.envs import make_env
from leyden_rl.ppo import PPO
from leyden_sim.adr import ADR, ADRParam
from leyden_sim.callbacks import ADRCallback
from leyden_sim.physics import PhysicsRandomization, PhysicsRange

RESULTS = Path(__file__).parent / "results"
LENGTHS = (0.5, 1.0, 1.5, 2.0, 3.0)
MASSES = (0.5, 1.0, 2.0, 4.0)
FIXED = {"length": PhysicsRange(0.5, 2.0), "masspole": PhysicsRange(0.5, 2.0, "loguniform")}


@dataclass(frozen=True)
class ADRRecipe:
    """ADR's settings for this benchmark (OpenAI et al. 2019's algorithm; thresholds relative to the
    most a CartPole-v1 episode can score, 500), and PPO options beside the defaults that every
    method shares.

    How far a range can move is bounded by the episode budget: 150k steps hold only ~300
    full-length episodes, and a boundary gets one decision per 2 · 2 · buffer_size / boundary_prob
    of them (``adr_slow``: 80, so ≤ 4 decisions per boundary in the whole run; ``adr``: 40).
    ``adr`` also narrows only when boundary episodes fail outright (t_L = 20%, not 40%): this PPO
    periodically collapses from 500 to ~150 for 20–40k steps and recovers, and at t_L = 40% each
    collapse undid the ranges grown before it."""

    delta: dict[str, float]
    buffer_size: int
    boundary_prob: float = 0.5
    thresholds: tuple[float, float] = (200.0, 400.0)
    ppo: dict = field(default_factory=dict)

    def make(self) -> ADR:
        params = {
            "length": ADRParam(nominal=1.0, delta=self.delta["length"], limits=(0.2, 5.0)),
            "masspole": ADRParam(nominal=1.0, delta=self.delta["masspole"], limits=(0.2, 8.0)),
        }
        low, high = self.thresholds
        return ADR(params, self.boundary_prob, self.buffer_size, threshold_low=low, threshold_high=high)


ADR_RECIPES = {
    "adr": ADRRecipe(delta={"length": 0.5, "masspole": 0.5}, buffer_size=5, thresholds=(100.0, 400.0)),
    "adr_slow": ADRRecipe(delta={"length": 0.3, "masspole": 0.5}, buffer_size=10),
}
METHODS = ("nominal", "fixed_dr", "adr")


class RangeLog(pl.Callback):
    """ADR's ranges, decision counts and the recent training return every ``every`` PPO iterations."""

    def __init__(self, adr: ADR, every: int = 20) -> None:
        self.adr, self.every, self.rows = adr, every, []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: PPO, outputs, batch, batch_idx: int) -> None:
        if batch_idx % self.every == 0 or trainer.should_stop:
            recent = [r for _, r, _ in pl_module.episode_log[-20:]]
            row = {
                "env_steps": pl_module.env_steps,
                "train_return": float(np.mean(recent)) if recent else None,
            }
            self.rows.append(row | {k.removeprefix("adr/"): v for k, v in self.adr.metrics().items()})


def train(method: str, seed: int, steps: int) -> tuple[PPO, list[dict] | None]:
    pl.seed_everything(seed)
    recipe = ADR_RECIPES.get(method)
    adr = recipe.make() if recipe is not None else None

    def thunk() -> gym.Env:
        env = make_env("CartPole-v1")
        if method == "fixed_dr":
            return PhysicsRandomization(env, ranges=FIXED)
        if adr is not None:
            return PhysicsRandomization(env, adr=adr)
        return env

    model = PPO(env_id="CartPole-v1", total_env_steps=steps, seed=seed, **(recipe.ppo if recipe else {}))
    model.envs = gym.vector.SyncVectorEnv(
        [thunk] * model.hparams.num_envs, autoreset_mode=AutoresetMode.SAME_STEP
    )
    range_log = RangeLog(adr) if adr is not None else None
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ADRCallback(adr), range_log] if adr is not None else [],
    )
    trainer.fit(model)
    return model, range_log.rows if range_log is not None else None


def steps_at_fixed_extent(trajectory: list[dict], total: int) -> int:
    """Env steps trained after ADR's ranges first covered fixed randomization's (×[0.5, 2] both)."""
    for row in trajectory:
        if all(row[f"{n}/low"] <= 0.5 and row[f"{n}/high"] >= 2.0 for n in ("length", "masspole")):
            return total - row["env_steps"]
    return 0


@torch.no_grad()
def evaluate(model: PPO, length: float, mass: float, episodes: int, seed: int) -> float:
    """Mean return of greedy actions over ``episodes`` episodes at fixed scaled physics."""
    point = {"length": PhysicsRange(length, length), "masspole": PhysicsRange(mass, mass)}
    envs = gym.vector.SyncVectorEnv(
        [lambda: PhysicsRandomization(gym.make("CartPole-v1"), point)] * episodes,
        autoreset_mode=AutoresetMode.SAME_STEP,
    )
    obs, _ = envs.reset(seed=[10_000 + seed * 100 + i for i in range(episodes)])
    returns, done = np.zeros(episodes), np.zeros(episodes, bool)
    model.policy.eval()
    while not done.all():
        action, _, _ = model.policy.act(torch.as_tensor(obs, dtype=torch.float32), deterministic=True)
        obs, reward, terminated, truncated, _ = envs.step(action.numpy())
        returns += reward * ~done
        done |= terminated | truncated
    envs.close()
    return float(returns.mean())


def heatmap(means: dict[str, np.ndarray], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(means), figsize=(4.2 * len(means), 3.6), constrained_layout=True)
    for ax, (method, grid) in zip(np.atleast_1d(axes), means.items()):
        im = ax.imshow(grid, vmin=0, vmax=500, cmap="viridis", origin="lower")
        ax.set_xticks(range(len(LENGTHS)), [f"×{v:g}" for v in LENGTHS])
        ax.set_yticks(range(len(MASSES)), [f"×{v:g}" for v in MASSES])
        ax.set_xlabel("pole length")
        ax.set_ylabel("pole mass")
        ax.set_title(f"{method} (mean {grid.mean():.0f})")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(
                j, i, f"{value:.0f}", ha="center", va="center", color="w" if value < 300 else "k", fontsize=8
            )
    fig.colorbar(im, ax=axes, shrink=0.8, label="mean return")
    fig.suptitle(title)
    fig.savefig(path, dpi=110)


def range_plot(trajectories: dict[str, dict[int, list[dict]]], path: Path) -> None:
    """ADR's pole-length and pole-mass ranges over training, one line per seed, beside the grid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    for ax, name, grid, label in (
        (axes[0], "length", LENGTHS, "length"),
        (axes[1], "masspole", MASSES, "mass"),
    ):
        for (method, seeds), style in zip(trajectories.items(), ("-", "--", ":")):
            for seed, rows in seeds.items():
                steps = [r["env_steps"] / 1000 for r in rows]
                color = f"C{seed}"
                ax.plot(
                    steps,
                    [r[f"{name}/high"] for r in rows],
                    style,
                    color=color,
                    drawstyle="steps-post",
                    label=f"{method} seed {seed}",
                )
                ax.plot(steps, [r[f"{name}/low"] for r in rows], style, color=color, drawstyle="steps-post")
        ax.axhspan(min(grid), max(grid), color="grey", alpha=0.15, label="held-out grid")
        ax.axhline(2.0, color="k", lw=0.8, ls="-.", label="fixed DR's high")
        ax.set_xlabel("env steps (thousands)")
        ax.set_ylabel(f"pole {label} scale")
        ax.set_title(f"ADR range of pole {label}")
    axes[1].legend(fontsize=7)
    fig.savefig(path, dpi=110)


def combine(methods: list[str]) -> None:
    """Merge ``results/dr_cartpole_<method>.json`` (one process per method, run side by side) into
    ``results/dr_cartpole.json``, keeping each part's command, and redraw the figures."""
    parts = {m: json.loads((RESULTS / f"dr_cartpole_{m}.json").read_text()) for m in methods}
    rows = [row for part in parts.values() for row in part["rows"]]
    means = {}
    for method, part in parts.items():
        values = {(r["setting"], r["seed"]): r["value"] for r in part["rows"]}
        seeds = sorted({seed for _, seed in values})
        means[method] = np.array(
            [
                [
                    np.mean([values[f"length_x{length:g}_mass_x{mass:g}", s] for s in seeds])
                    for length in LENGTHS
                ]
                for mass in MASSES
            ]
        )
    merged = {key: {} for key in ("adr_recipes", "adr_final", "adr_trajectory")}
    for part in parts.values():
        for key in merged:
            merged[key] |= part.get(key, {})
    budget = parts[methods[0]]["budget"]
    heatmap(means, RESULTS / "dr_cartpole.png", f"CartPole held-out physics, PPO {budget['steps']} steps")
    if merged["adr_trajectory"]:
        range_plot(merged["adr_trajectory"], RESULTS / "dr_cartpole_adr_ranges.png")
    measured_by = [{k: part[k] for k in ("command", "machine", "date")} for part in parts.values()]
    write_results(
        "dr_cartpole",
        rows,
        results_dir=RESULTS,
        commands=[part["command"] for part in parts.values()],
        measured_by=measured_by,
        budget=budget,
        **merged,
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=[*METHODS, *ADR_RECIPES])
    parser.add_argument("--combine", nargs="+", metavar="METHOD", help="merge per-method result files")
    args = parser.parse_args()
    if args.combine:
        return combine(args.combine)
    if args.quick:
        args.seeds, args.steps, args.episodes = 1, 60_000, 5
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    rows, means, adr_summary, trajectories = [], {}, {}, {}
    for method in args.methods:
        grids = []
        for seed in range(args.seeds):
            start = time.time()
            model, trajectory = train(method, seed, args.steps)
            grid = np.array(
                [
                    [evaluate(model, length, mass, args.episodes, seed) for length in LENGTHS]
                    for mass in MASSES
                ]
            )
            grids.append(grid)
            for (i, j), value in np.ndenumerate(grid):
                setting = f"length_x{LENGTHS[j]:g}_mass_x{MASSES[i]:g}"
                rows.append(
                    result_row(f"leyden.PPO+{method}", setting, seed, "mean_return", round(float(value), 1))
                )
            extra = ""
            if trajectory is not None:
                trajectories.setdefault(method, {})[seed] = trajectory
                summary = trajectory[-1] | {
                    "steps_at_fixed_extent": steps_at_fixed_extent(trajectory, args.steps)
                }
                adr_summary.setdefault(method, {})[seed] = summary
                extra = " ADR " + ", ".join(f"{k} {v:.3g}" for k, v in summary.items() if v is not None)
            print(
                f"{method:9s} seed {seed}: grid mean {grid.mean():.1f}, nominal cell {grid[1, 1]:.1f} "
                f"({time.time() - start:.0f}s){extra}",
                flush=True,
            )
        means[method] = np.mean(grids, axis=0)

    header = "mass \\ length " + " ".join(f"{f'×{v:g}':>7s}" for v in LENGTHS)
    for method, grid in means.items():
        print(
            f"\n{method}: mean return over {args.seeds} seed(s), {args.episodes} episodes per cell\n{header}"
        )
        for i, mass in enumerate(MASSES):
            print(f"×{mass:<13g}" + " ".join(f"{v:7.1f}" for v in grid[i]))
    suffix = ("_quick" if args.quick else "") + (
        "" if args.methods == list(METHODS) else "_" + "_".join(args.methods)
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    heatmap(means, RESULTS / f"dr_cartpole{suffix}.png", f"CartPole held-out physics, PPO {args.steps} steps")
    if trajectories:
        range_plot(trajectories, RESULTS / f"dr_cartpole{suffix}_adr_ranges.png")
    budget = {"seeds": args.seeds, "steps": args.steps, "episodes_per_cell": args.episodes}
    recipes = {m: {"delta": r.delta, "buffer_size": r.buffer_size, "boundary_prob": r.boundary_prob,
                   "thresholds": r.thresholds, "ppo": r.ppo} for m, r in ADR_RECIPES.items() if m in args.methods}  # fmt: skip
    write_results(
        f"dr_cartpole{suffix}",
        rows,
        results_dir=RESULTS,
        budget=budget,
        adr_recipes=recipes,
        adr_final=adr_summary,
        adr_trajectory=trajectories,
    )


if __name__ == "__main__":
    main()
