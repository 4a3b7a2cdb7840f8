"""One-shot block stacking under held-out physics: training data at nominal physics, with fixed randomization, with ADR.

The demonstration-conditioned :class:`OneShotBlockStacking` policy of ``one_shot_blocks.py`` (same
network and initial data: 400 scripted-expert pairs at nominal physics, 24 epochs) is trained by
behaviour cloning while its data grows: after every epoch, ``--pairs-per-epoch`` new expert pairs
(demonstration and noisy target episode of a training task) are added. The three methods differ only
in the physics of those new episodes:

* ``nominal``: the nominal block world;
* ``fixed_dr``: leyden-sim's ``PhysicsRandomization`` with fixed ranges, block mass ×U[0.5, 2],
  block friction ×U[0.6, 2], gripper gain ×U[1, 3];
* ``adr``: ADR (OpenAI et al. 2019) over the same parameters, from nominal out to those ranges' ends.
  After every epoch the *policy* plays ``--probes`` training tasks, each with one parameter pinned at
  a boundary of its current range, and ADR scores each by the fraction of its stages in place at the
  end; the new expert pairs then draw their physics from ADR's current ranges.

Each policy then plays held-out arrangements (2 and 3 stages) in held-out physics cells, the
demonstration shown at that cell's physics; the scripted expert acting directly is the reference.
Every env steps its physics at 2.5 ms (the default 5 ms diverges with the heavier blocks); a pair whose
target episode still diverged is dropped (see ``expert_pairs``), and gradients are clipped at norm 1 (the
Trainer's ``gradient_clip_val``) so that one outlying batch cannot undo the training. Rows: full
success rate and mean fraction of stages in place per cell and size; ADR's ranges after every epoch;
training minutes.

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

import gymnasium as gym
import lightning.pytorch as pl
import numpy as np
import torch
from one_shot_blocks import EVAL_SEED, NUM_BLOCKS, STAGES, add_rows, test_tasks

from leyden_core.benchmarking import merge_results, result_row
from leyden_core.testing import quiet_trainer
from leyden_rl.imitation.blocks.data import expert_pairs, run_episodes
from leyden_rl.imitation.blocks.env import NOMINAL_BLOCK_FRICTION, NOMINAL_BLOCK_MASS, BlockStackingEnv
from leyden_rl.imitation.blocks.one_shot import (
    OneShotBlocksDataModule,
    OneShotBlockStacking,
    evaluate,
    learner,
)
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
# × slippery/grippy blocks with a gripper twice as stiff.
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
    Every probe episode is pinned at a boundary; a boundary moves after 4 of them: out when they place
    ≥ 75% of their stages, back at ≤ 40%."""
    params = {
        "block_mass": ADRParam(delta=0.25, limits=(0.5, 2.0)),
        "block_friction": ADRParam(delta=0.2, limits=(0.6, 2.0)),
        "gripper_gain": ADRParam(delta=0.5, limits=(1.0, 3.0)),
    }
    return ADR(params, boundary_prob=1.0, buffer_size=4, threshold_low=0.4, threshold_high=0.75)


class GrowingPhysicsData(pl.Callback):
    """After every epoch: (ADR only) the policy plays ``probes`` boundary episodes that move ADR's ranges,
    then ``pairs`` new expert pairs are added to the data in the method's physics."""

    def __init__(self, data: OneShotBlocksDataModule, method: str, adr: ADR | None, pairs: int, probes: int,
                 seed: int, label: str, rows: list[dict]) -> None:  # fmt: skip
        self.data, self.method, self.adr, self.pairs, self.probes = data, method, adr, pairs, probes
        self.seed, self.label, self.rows = seed, label, rows

    def physics(self) -> Callable[[BlockStackingEnv], gym.Env] | None:
        """The wrapper of the new pairs' envs: none, the fixed ranges, or ADR's current ranges (not scored)."""
        if self.method == "fixed_dr":
            return lambda env: PhysicsRandomization(env, ranges=FIXED)
        if self.method == "adr":
            ranges = {p: PhysicsRange(self.adr.low[p], self.adr.high[p]) for p in self.adr.params}
            return lambda env: PhysicsRandomization(env, ranges=ranges)
        return None

    def probe(self, model: OneShotBlockStacking, epoch: int) -> None:
        rng = np.random.default_rng([self.seed, 5, epoch])
        chosen = rng.integers(len(self.data.train_demos), size=self.probes)
        demos = [self.data.train_demos[i] for i in chosen]
        envs = [
            PhysicsRandomization(
                BlockStackingEnv(NUM_BLOCKS, **FINE_STEP), adr=self.adr, score="final_reward"
            )
            for _ in demos
        ]
        model.eval()
        act = learner(model, demos, self.data.hparams.demo_stride)
        run_episodes(envs, [d.task for d in demos], rng.integers(2**31, size=len(demos)), act)
        model.train()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: OneShotBlockStacking) -> None:
        epoch = trainer.current_epoch
        if self.adr is not None:
            self.probe(pl_module, epoch)
            for param in self.adr.params:
                setting = f"{param},epoch={epoch}"
                self.rows.append(result_row(self.label, setting, self.seed, "adr_low", self.adr.low[param]))
                self.rows.append(result_row(self.label, setting, self.seed, "adr_high", self.adr.high[param]))
        hp = self.data.hparams
        stream = int(np.random.default_rng([self.seed, 9, epoch]).integers(2**31))
        demos, targets = expert_pairs(self.data.train_tasks, NUM_BLOCKS, self.pairs, stream, hp.action_noise,
                                      env_kwargs=FINE_STEP, wrapper=self.physics())  # fmt: skip
        self.data.train_demos += demos
        self.data.train_targets += targets


def cell_name(cell: tuple[float, float, float]) -> str:
    mass, friction, gain = cell
    return f"mass={mass:g},friction={friction:g},gain={gain:g}"


def run_seed(
    seed: int, methods: list[str], args: argparse.Namespace, rows: list[dict], save: Callable[[], None]
) -> None:
    data = OneShotBlocksDataModule(NUM_BLOCKS, STAGES, num_train_pairs=args.pairs, num_val_pairs=8, seed=seed,
                                   env_kwargs=FINE_STEP)  # fmt: skip
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
        adr = make_adr() if method == "adr" else None
        label = f"leyden.OneShotBlockStacking[demo]+{method}"
        grow = GrowingPhysicsData(data, method, adr, args.pairs_per_epoch, args.probes, seed, label, rows)
        pl.seed_everything(seed, verbose=False)
        model = OneShotBlockStacking("demo", width=args.width, learning_rate=args.lr)
        start = time.perf_counter()
        trainer = quiet_trainer(max_epochs=args.epochs, enable_checkpointing=False, num_sanity_val_steps=0,
                                limit_val_batches=0, reload_dataloaders_every_n_epochs=1, callbacks=[grow],
                                gradient_clip_val=1.0)  # fmt: skip
        trainer.fit(model, data)
        rows.append(result_row(label, "train", seed, "train_minutes", (time.perf_counter() - start) / 60))
        if adr is not None:
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
    parser.add_argument(
        "--pairs-per-epoch", type=int, default=16, help="expert pairs added after every epoch"
    )
    parser.add_argument("--probes", type=int, default=16, help="ADR's boundary episodes after every epoch")
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 3)))
    args.pairs, args.epochs, args.eval = (150, 8, 4) if args.quick else (400, 24, 12)
    args.width, args.lr = 64, 1e-3
    name = "one_shot_blocks_physics" + ("_quick" if args.quick else "")
    labels = {f"leyden.OneShotBlockStacking[demo]+{m}" for m in args.methods} | {"scripted_expert"}
    rows: list[dict] = []
    start = time.perf_counter()

    def save() -> None:  # other processes' rows (other seeds or methods) are kept
        merge_results(
            name, rows, lambda row: row["method"] in labels and row["seed"] in seeds,
            wall_minutes=(time.perf_counter() - start) / 60,
            budget={"initial_pairs": args.pairs, "epochs": args.epochs, "pairs_per_epoch": args.pairs_per_epoch,
                    "adr_probes_per_epoch": args.probes, "eval_episodes_per_size": args.eval},
        )  # fmt: skip

    for seed in seeds:
        run_seed(seed, args.methods, args, rows, save)
    print(f"total {(time.perf_counter() - start) / 60:.1f} min")


if __name__ == "__main__":
    main()
