"""Physics randomization on CartPole: does a policy trained with randomization survive held-out physics?

PPO (Leyden's ``leyden_rl.PPO``, trained by the Lightning Trainer) is trained three ways:
on nominal CartPole, with fixed randomization (pole length ×U[0.5, 2], pole mass ×logU[0.5, 2]),
and with ADR (both ranges start at nominal and grow while boundary episodes score ≥ t_H).
Each policy (greedy actions) is evaluated on a grid of held-out physics: pole length
×{0.5, 1, 1.5, 2, 3} × pole mass ×{0.5, 1, 2, 4}, mean return per cell. Writes
benchmarks/results/dr_cartpole.json, a heatmap PNG, and prints a table.

    python benchmarks/dr_cartpole.py --quick     # 1 seed, 60k steps, 5 episodes per cell
    python benchmarks/dr_cartpole.py             # 3 seeds, 150k steps, 10 episodes per cell
"""

from __future__ import annotations

import argparse
import os
import time
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
METHODS = ("nominal", "fixed_dr", "adr")


def make_adr() -> ADR:
    """ADR as in OpenAI et al. (2019): boundary probability 0.5, thresholds relative to task success
    (the most a CartPole-v1 episode can score is 500: t_L = 40%, t_H = 80% of it), a buffer of 10
    boundary episodes per decision (150k steps hold only ~300 full-length episodes: each boundary gets
    ~35 of them, i.e. 3–4 decisions)."""
    params = {
        "length": ADRParam(nominal=1.0, delta=0.3, limits=(0.2, 5.0)),
        "masspole": ADRParam(nominal=1.0, delta=0.5, limits=(0.2, 8.0)),
    }
    return ADR(params, boundary_prob=0.5, buffer_size=10, threshold_low=200.0, threshold_high=400.0)


def train(method: str, seed: int, steps: int) -> tuple[PPO, ADR | None]:
    pl.seed_everything(seed)
    adr = make_adr() if method == "adr" else None

    def thunk() -> gym.Env:
        env = make_env("CartPole-v1")
        if method == "fixed_dr":
            return PhysicsRandomization(env, ranges=FIXED)
        if method == "adr":
            return PhysicsRandomization(env, adr=adr)
        return env

    model = PPO(env_id="CartPole-v1", total_env_steps=steps, seed=seed)
    model.envs = gym.vector.SyncVectorEnv(
        [thunk] * model.hparams.num_envs, autoreset_mode=AutoresetMode.SAME_STEP
    )
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[ADRCallback(adr)] if adr is not None else [],
    )
    trainer.fit(model)
    return model, adr


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


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=150_000)
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.steps, args.episodes = 1, 60_000, 5
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))

    rows, means, adr_ranges = [], {}, {}
    for method in args.methods:
        grids = []
        for seed in range(args.seeds):
            start = time.time()
            model, adr = train(method, seed, args.steps)
            if adr is not None:
                adr_ranges[seed] = adr.metrics()
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
            extra = f" ADR ranges {adr.metrics()}" if adr is not None else ""
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
    budget = {"seeds": args.seeds, "steps": args.steps, "episodes_per_cell": args.episodes}
    write_results(
        f"dr_cartpole{suffix}", rows, results_dir=RESULTS, budget=budget, adr_final_ranges=adr_ranges
    )


if __name__ == "__main__":
    main()
