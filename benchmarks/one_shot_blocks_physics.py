"""One-shot block stacking under held-out physics: DAgger at nominal physics, with fixed randomization, with ADR.

The demonstration-conditioned :class:`OneShotBlockStacking` policy of ``one_shot_blocks.py`` (same
data, network and budget) is trained by behaviour cloning plus DAgger: before every epoch after the
first, ``--dagger-episodes`` training tasks are played by the policy (β-mixed with the expert) and
relabelled by the scripted expert. The three methods differ only in the physics of those episodes:

* ``nominal``: the nominal block world;
* ``fixed_dr``: leyden-sim's ``PhysicsRandomization`` with fixed ranges, block mass ×U[0.5, 2],
  block friction ×U[0.6, 2], gripper gain ×U[1, 3];
* ``adr``: the same parameters under ADR (OpenAI et al. 2019), starting at nominal with those ranges
  as hard limits; a boundary episode scores the fraction of its stages in place at the end.

Demonstrations are always recorded at nominal physics. Every env steps its physics at 2.5 ms (the
default 5 ms diverges with the heavier blocks). Each policy then plays held-out arrangements
(2 and 3 stages) in held-out physics cells, the demonstration shown at that cell's physics; the
scripted expert acting directly is the reference (a grasp slips when the block is heavy against
squeeze × friction, see ``BlockStackingEnv``). Rows: full success rate and mean fraction of stages in
place per cell and size; ADR's final ranges; training minutes.

    python benchmarks/one_shot_blocks_physics.py --quick          # 1 seed, 150 pairs x 8 epochs
    python benchmarks/one_shot_blocks_physics.py --seeds 1 --first-seed 0   # one seed of the full run
    python benchmarks/one_shot_blocks_physics.py --methods adr --seeds 1    # replaces only those rows

Writes results/one_shot_blocks_physics.json (``--quick``: ..._quick.json); a rerun replaces the rows of
the seeds and methods it ran. One torch thread.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import lightning.pytorch as pl
import torch
from one_shot_blocks import EVAL_SEED, NUM_BLOCKS, STAGES, add_rows, test_tasks

from leyden_core.benchmarking import invoked_command, kept_results, result_row, write_results
from leyden_core.testing import quiet_trainer
from leyden_rl.imitation.blocks.env import NOMINAL_BLOCK_FRICTION, NOMINAL_BLOCK_MASS
from leyden_rl.imitation.blocks.one_shot import OneShotBlocksDataModule, OneShotBlockStacking, evaluate
from leyden_rl.imitation.blocks.tasks import num_stages
from leyden_sim.adr import ADR, ADRParam
from leyden_sim.physics import PhysicsRandomization, PhysicsRange

METHODS = ("nominal", "fixed_dr", "adr")
FIXED = {
    "block_mass": PhysicsRange(0.5, 2.0),
    "block_friction": PhysicsRange(0.6, 2.0),
    "gripper_gain": PhysicsRange(1.0, 3.0),
}
# Held-out physics (block mass kg, block friction, gripper gain): nominal, and the corners of light/heavy
# × slippery/grippy blocks with a gripper twice as stiff (where the scripted expert's grasp holds).
CELLS = [
    (NOMINAL_BLOCK_MASS, NOMINAL_BLOCK_FRICTION, 1.0),
    (0.05, 0.6, 2.0),
    (0.05, 2.0, 2.0),
    (0.2, 0.6, 2.0),
    (0.2, 2.0, 2.0),
]
EVAL_STAGES = (2, 3)
FINE_STEP = {"timestep": 0.0025, "substeps": 20}  # stable with heavy blocks (see BlockStackingEnv); every env


def make_adr() -> ADR:
    """ADR over the three parameters, each from nominal out to the fixed ranges' ends (its hard limits).
    A boundary moves after 8 of its episodes: out when they place ≥ 75% of their stages, back at ≤ 40%."""
    params = {
        "block_mass": ADRParam(delta=0.25, limits=(0.5, 2.0)),
        "block_friction": ADRParam(delta=0.2, limits=(0.6, 2.0)),
        "gripper_gain": ADRParam(delta=0.5, limits=(1.0, 3.0)),
    }
    return ADR(params, boundary_prob=0.5, buffer_size=8, threshold_low=0.4, threshold_high=0.75)


def dagger_wrapper(method: str, adr: ADR | None) -> Callable[[gym.Env], gym.Env] | None:
    """The physics of the DAgger episodes: nominal (no wrapper), fixed ranges, or ``adr``'s ranges."""
    if method == "fixed_dr":
        return lambda env: PhysicsRandomization(env, ranges=FIXED)
    if method == "adr":
        return lambda env: PhysicsRandomization(env, adr=adr, score="final_reward")
    return None


class RangesPerEpoch(pl.Callback):
    """ADR's ranges after every epoch as rows (setting ``<param>,epoch=<e>``): how fast they grew."""

    def __init__(self, adr: ADR, label: str, seed: int, rows: list[dict]) -> None:
        self.adr, self.label, self.seed, self.rows = adr, label, seed, rows

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for param in self.adr.params:
            setting = f"{param},epoch={trainer.current_epoch}"
            self.rows.append(result_row(self.label, setting, self.seed, "adr_low", self.adr.low[param]))
            self.rows.append(result_row(self.label, setting, self.seed, "adr_high", self.adr.high[param]))


def cell_name(cell: tuple[float, float, float]) -> str:
    mass, friction, gain = cell
    return f"mass={mass:g},friction={friction:g},gain={gain:g}"


def run_seed(
    seed: int, methods: list[str], args: argparse.Namespace, rows: list[dict], save: Callable[[], None]
) -> None:
    data = OneShotBlocksDataModule(NUM_BLOCKS, STAGES, num_train_pairs=args.pairs, num_val_pairs=8, seed=seed,
                                   dagger_episodes=args.dagger_episodes, env_kwargs=FINE_STEP)  # fmt: skip
    data.setup("fit")
    expert_data = list(data.train_demos), list(data.train_targets)
    tasks = [t for t in test_tasks(data.held_out_tasks, args.eval) if num_stages(t) in EVAL_STAGES]
    cells = {
        cell_name(c): {"block_mass": c[0], "block_friction": c[1], "gripper_gain": c[2], **FINE_STEP}
        for c in CELLS
    }
    for name, physics in cells.items():
        episodes = evaluate(None, tasks, NUM_BLOCKS, EVAL_SEED + seed, env_kwargs=physics)
        add_rows(rows, "scripted_expert", f"held_out@{name}", seed, episodes)
    for method in methods:
        data.train_demos, data.train_targets = list(expert_data[0]), list(expert_data[1])
        data.dagger_rounds = 0
        adr = make_adr() if method == "adr" else None
        data.dagger_wrapper = dagger_wrapper(method, adr)
        pl.seed_everything(seed, verbose=False)
        model = OneShotBlockStacking("demo", width=args.width, learning_rate=args.lr)
        start = time.perf_counter()
        label = f"leyden.OneShotBlockStacking[demo]+dagger+{method}"
        callbacks = [] if adr is None else [RangesPerEpoch(adr, label, seed, rows)]
        trainer = quiet_trainer(max_epochs=args.epochs, enable_checkpointing=False, num_sanity_val_steps=0,
                                limit_val_batches=0, reload_dataloaders_every_n_epochs=1, callbacks=callbacks)  # fmt: skip
        trainer.fit(model, data)
        rows.append(result_row(label, "train", seed, "train_minutes", (time.perf_counter() - start) / 60))
        if adr is not None:
            for param in adr.params:
                rows.append(result_row(label, param, seed, "adr_low", adr.low[param]))
                rows.append(result_row(label, param, seed, "adr_high", adr.high[param]))
            print(f"seed {seed} ADR ranges: " + ", ".join(
                f"{p} x[{adr.low[p]:.2f}, {adr.high[p]:.2f}]" for p in adr.params) + f"; {adr.counts}", flush=True)  # fmt: skip
        for name, physics in cells.items():
            episodes = evaluate(model, tasks, NUM_BLOCKS, EVAL_SEED + seed, env_kwargs=physics)
            add_rows(rows, label, f"held_out@{name}", seed, episodes)
        save()  # after every method


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="1 seed, 150 pairs x 8 epochs, 4 episodes per size"
    )
    parser.add_argument("--seeds", type=int, default=None, help="default: 1 with --quick, else 3")
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=METHODS)
    parser.add_argument("--dagger-episodes", type=int, default=32, help="DAgger episodes per epoch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 3)))
    args.pairs, args.epochs, args.eval = (150, 8, 4) if args.quick else (400, 24, 12)
    args.width, args.lr = 64, 1e-3
    name = "one_shot_blocks_physics" + ("_quick" if args.quick else "")
    labels = {f"leyden.OneShotBlockStacking[demo]+dagger+{m}" for m in args.methods} | {"scripted_expert"}
    _, rows, commands = kept_results(
        Path(__file__).parent / "results" / f"{name}.json",
        lambda row: row["method"] in labels and row["seed"] in seeds,
    )
    start = time.perf_counter()

    def save() -> None:
        write_results(
            name, rows, commands=[*commands, invoked_command()], wall_minutes=(time.perf_counter() - start) / 60,
            budget={"train_pairs": args.pairs, "epochs": args.epochs, "eval_episodes_per_size": args.eval,
                    "dagger_episodes_per_epoch": args.dagger_episodes},
        )  # fmt: skip

    for seed in seeds:
        run_seed(seed, args.methods, args, rows, save)
    print(f"total {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
