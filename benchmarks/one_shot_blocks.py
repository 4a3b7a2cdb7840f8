"""One-shot imitation of block stacking in MuJoCo (Duan et al., 2017): success by number of stages.

The block world has 4 labelled blocks (``--num-blocks``: 2–8); a task is an arrangement of towers with
1–3 placements ("stages"; up to one fewer than the blocks). A quarter of the arrangements of each size
is held out (never seen in training, :func:`~leyden_rl.imitation.blocks.tasks.split_tasks`). Per
seed, two :class:`OneShotBlockStacking` networks are trained by behaviour cloning on scripted-expert
demonstration pairs of the training tasks — ``demo`` (attention over one demonstration) and ``none``
(same network, no demonstration) — then each plays test episodes: the scripted expert demonstrates the task in one layout, the policy
acts in another (the same layouts for every method). Rows: full success rate (every stage in place
at the end) and the mean fraction of stages in place, by split (train / held-out) and number of
stages; the scripted expert acting directly is the reference row. Also measured: simulator steps
per second (one env, single thread) and training minutes.

    python benchmarks/one_shot_blocks.py --quick    # 1 seed, 150 pairs x 8 epochs, 4 test episodes per size
    python benchmarks/one_shot_blocks.py --gif docs/images/one_shot_blocks.gif
                                                    # 3 seeds, 400 pairs x 24 epochs, 12 per size and split
    python benchmarks/one_shot_blocks.py --seeds 1 --first-seed 2    # one seed (seeds may run as parallel processes)
    python benchmarks/one_shot_blocks.py --num-blocks 5 --policies demo --seeds 1   # longer tasks: 1-4 stages

Writes results/one_shot_blocks.json; a run replaces the rows of its seeds and block count and keeps the
rest. Settings of a world other than 4 blocks carry its size (``blocks=5/held_out,stages=4``).
"""

from __future__ import annotations

import argparse
import time

import lightning.pytorch as pl
import numpy as np
import torch

from leyden_core.benchmarking import merge_results, result_row
from leyden_core.testing import quiet_trainer
from leyden_rl.imitation.blocks.env import BlockStackingEnv
from leyden_rl.imitation.blocks.one_shot import OneShotBlocksDataModule, OneShotBlockStacking, evaluate
from leyden_rl.imitation.blocks.tasks import num_stages
from leyden_rl.imitation.blocks.video import demonstration_and_imitation

NUM_BLOCKS, STAGES = 4, (1, 2, 3)  # the default world (the physics benchmark's too)
EVAL_SEED = 1_000_000  # test layouts come from seeds never used for training data


def world_prefix(num_blocks: int) -> str:
    """What the settings of a world other than the default one start with, e.g. ``blocks=5/``."""
    return "" if num_blocks == NUM_BLOCKS else f"blocks={num_blocks}/"


def steps_per_second(num_blocks: int, seconds: float = 3.0) -> float:
    """Env steps per second of one env under random actions (physics, observation and bookkeeping)."""
    env = BlockStackingEnv(num_blocks)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        if env.step(rng.uniform(-1, 1, 4).astype(np.float32))[3]:
            env.reset()
        steps += 1
    return steps / (time.perf_counter() - start)


def add_rows(rows: list[dict], method: str, split: str, seed: int, episodes: list) -> None:
    for k in sorted({e.num_stages for e in episodes}):
        chosen = [e for e in episodes if e.num_stages == k]
        success = float(np.mean([e.success for e in chosen]))
        placed = float(np.mean([e.stages_done / k for e in chosen]))
        setting = f"{split},stages={k}"
        rows.append(result_row(method, setting, seed, "success_rate", success))
        rows.append(result_row(method, setting, seed, "stages_placed", placed))
        print(f"seed {seed} {method:36s} {setting:18s} success {success:.3f} placed {placed:.3f}", flush=True)


def test_tasks(tasks: list[str], per_stage: int) -> list[str]:
    """``per_stage`` episodes for every size, cycling over that size's tasks."""
    out = []
    for k in sorted({num_stages(t) for t in tasks}):
        of_size = [t for t in tasks if num_stages(t) == k]
        out += [of_size[i % len(of_size)] for i in range(per_stage)]
    return out


def run_seed(seed: int, args: argparse.Namespace, rows: list[dict]) -> None:
    n = args.num_blocks
    world = world_prefix(n)
    data = OneShotBlocksDataModule(
        n, tuple(range(1, n)), num_train_pairs=args.pairs, num_val_pairs=8, seed=seed, dagger_episodes=args.dagger_episodes
    )  # fmt: skip
    start = time.perf_counter()
    data.setup("fit")
    rows.append(
        result_row(
            "scripted_expert", f"{world}data", seed, "data_minutes", (time.perf_counter() - start) / 60
        )
    )
    splits = {
        f"{world}train": test_tasks(data.train_tasks, args.eval),
        f"{world}held_out": test_tasks(data.held_out_tasks, args.eval),
    }
    for split, tasks in splits.items():
        add_rows(rows, "scripted_expert", split, seed, evaluate(None, tasks, n, EVAL_SEED + seed))
    expert_data = list(data.train_demos), list(data.train_targets)
    for conditioning in args.policies:
        data.train_demos, data.train_targets = (
            list(expert_data[0]),
            list(expert_data[1]),
        )  # no DAgger carry-over
        data.dagger_rounds = 0
        pl.seed_everything(seed, verbose=False)
        model = OneShotBlockStacking(conditioning, width=args.width, learning_rate=args.lr)
        start = time.perf_counter()
        trainer = quiet_trainer(max_epochs=args.epochs, enable_checkpointing=False, num_sanity_val_steps=0,
                                limit_val_batches=0, reload_dataloaders_every_n_epochs=1)  # fmt: skip
        trainer.fit(model, data)
        method = f"leyden.OneShotBlockStacking[{conditioning}]"
        rows.append(
            result_row(method, f"{world}train", seed, "train_minutes", (time.perf_counter() - start) / 60)
        )
        for split, tasks in splits.items():
            add_rows(rows, method, split, seed, evaluate(model, tasks, n, EVAL_SEED + seed))
        if args.gif and seed == 0 and conditioning == "demo" and n == NUM_BLOCKS:
            write_gif(model, data.held_out_tasks, args.gif)


def write_gif(model: OneShotBlockStacking, held_out: list[str], path: str) -> None:
    """The first held-out 3-stage task: the expert's demonstration (left) and the policy's imitation
    from another layout (right); the first episode seed whose imitation succeeds, among five."""
    import imageio.v2 as imageio

    task = next(t for t in held_out if num_stages(t) == 3)
    for attempt in range(5):
        frames, success = demonstration_and_imitation(model, task, EVAL_SEED + 100 + 2 * attempt, every=3)
        if success:
            break
    imageio.mimsave(path, list(frames), duration=0.15, loop=0)
    print(f"wrote {path}: task {task!r}, attempt {attempt + 1}, success {success}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="default: 1 with --quick, else 3")
    parser.add_argument("--policies", nargs="*", default=["demo", "none"], choices=["demo", "none"])
    parser.add_argument(
        "--dagger-episodes", type=int, default=0, help="DAgger episodes per epoch (0: plain BC)"
    )
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed, first-seed + 1, ...")
    parser.add_argument("--gif", help="write a demonstration + imitation GIF of seed 0's demo policy here")
    parser.add_argument(
        "--num-blocks", type=int, default=NUM_BLOCKS, help="blocks in the world (tasks of 1 to N-1 stages)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds = range(args.first_seed, args.first_seed + (args.seeds or (1 if args.quick else 3)))
    args.pairs, args.epochs, args.eval = (150, 8, 4) if args.quick else (400, 24, 12)
    args.width, args.lr = 64, 1e-3
    rows: list[dict] = []
    start = time.perf_counter()
    rate = steps_per_second(args.num_blocks)
    speed_setting = f"{args.num_blocks}_blocks"
    rows.append(result_row("BlockStacking-v0", speed_setting, None, "env_steps_per_second", rate))
    print(f"simulator: {rate:.0f} env steps/s (10 physics steps each)")
    for seed in seeds:
        run_seed(seed, args, rows)
    minutes = (time.perf_counter() - start) / 60
    print(f"total {minutes:.1f} min")
    world = world_prefix(args.num_blocks)

    def rerun(row: dict) -> bool:  # this run's seeds in this world, and its simulator speed
        if row["setting"] == speed_setting:
            return True
        in_world = row["setting"].startswith(world) if world else not row["setting"].startswith("blocks=")
        return in_world and row["seed"] in seeds

    merge_results(
        "one_shot_blocks" + ("_quick" if args.quick else ""), rows, rerun, wall_minutes=minutes,
        budget={"train_pairs": args.pairs, "epochs": args.epochs, "eval_episodes_per_size": args.eval,
                "dagger_episodes_per_epoch": args.dagger_episodes},
    )  # fmt: skip


if __name__ == "__main__":
    main()
