"""TD3 and DDPG on MuJoCo InvertedPendulum-v5 and HalfCheetah-v5: Leyden vs Stable-Baselines3 side by side
at a short budget (rl-zoo's MuJoCo settings, 1 torch thread).

Per seed: the deterministic evaluation return (10 episodes) of the policy at the budget, the mean
return of the last 10 training episodes, env steps per wall- and per CPU-second (training included,
evaluations not), and the learning curve: the deterministic policy's return (3 episodes) every 1,000
env steps once learning has started. On InvertedPendulum-v5 the curve gives the env steps until the
policy first balances the pole for all 1,000 steps of every episode (null if not within the budget):
the policy switches from falling within ~100 steps to balancing within a few hundred env steps, so a
return at one budget mostly says on which side of that switch the budget fell. Both libraries read
the settings from examples/rl/td3_mujoco_halfcheetah.yaml and ddpg_mujoco_halfcheetah.yaml: 10,000
uniformly random steps, then one update per step.

    python benchmarks/rl_mujoco.py --quick          # 1 seed, InvertedPendulum, 12k steps
    python benchmarks/rl_mujoco.py --seeds 5        # the full benchmark: 25k / 30k env steps
    python benchmarks/rl_mujoco.py --envs HalfCheetah-v5 --algos TD3   # replaces only those rows

Every run writes results/rl_mujoco.json (``--quick``: rl_mujoco_quick.json): the rows it ran replace
theirs, the others and the commands that measured them are kept (also those of a run in another
process, so seeds can run side by side). Needs the ``mujoco`` extra.
"""

from __future__ import annotations

import argparse

import torch
from rl_pendulum import Curve, recipe, run_leyden, run_sb3

from leyden_core.benchmarking import merge_results, result_row

BUDGETS = {"InvertedPendulum-v5": 25_000, "HalfCheetah-v5": 30_000}  # env steps, 10,000 of them random
BALANCED = {"InvertedPendulum-v5": 1000.0}  # every evaluation episode lasts the time limit
CURVE_EVERY = 1_000
ENVS = ",".join(BUDGETS)
HP = {"TD3": recipe("td3_mujoco_halfcheetah.yaml"), "DDPG": recipe("ddpg_mujoco_halfcheetah.yaml")}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, InvertedPendulum, 12k steps")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument(
        "--first-seed", type=int, default=0, help="seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument(
        "--budget", type=int, help="env steps for every task (default: 25k InvertedPendulum, 30k HalfCheetah)"
    )
    parser.add_argument("--envs", default=ENVS, help="any of " + ENVS)
    parser.add_argument("--algos", default="TD3,DDPG", help="any of TD3,DDPG")
    args = parser.parse_args()
    torch.set_num_threads(1)
    envs, algos = args.envs.split(","), args.algos.split(",")
    name = "rl_mujoco_quick" if args.quick else "rl_mujoco"
    if args.quick:
        envs, args.seeds, args.budget = ["InvertedPendulum-v5"], 1, args.budget or 12_000
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    methods = {f"{lib}.{algo}" for lib in ("leyden", "sb3") for algo in algos}
    rows: list[dict] = []

    def rerun(row: dict) -> bool:
        return row["method"] in methods and row["setting"].split("/")[0] in envs and row["seed"] in seeds

    for env_id, algo, seed in ((e, a, s) for e in envs for a in algos for s in seeds):
        budget = args.budget or BUDGETS[env_id]
        for lib, run in (("leyden", run_leyden), ("sb3", run_sb3)):
            curve = Curve(env_id, CURVE_EVERY, start=HP[algo]["learning_starts"] + CURVE_EVERY)
            _, final, per_s, per_cpu_s, last_10 = run(
                algo, seed, budget, env_id, HP[algo], stop=False, curve=curve
            )
            metrics = [
                ("final_eval_return", final),
                ("last_10_train_return", last_10),
                ("env_steps_per_s", per_s),
                ("env_steps_per_cpu_s", per_cpu_s),
                *((f"eval_return_at_{steps}", ret) for steps, ret in sorted(curve.returns.items())),
            ]
            if env_id in BALANCED:
                balanced = [steps for steps, ret in sorted(curve.returns.items()) if ret >= BALANCED[env_id]]
                metrics.append(("env_steps_to_balance", balanced[0] if balanced else None))
            for metric, value in metrics:
                rows.append(result_row(f"{lib}.{algo}", f"{env_id}/{budget}", seed, metric, value))
            print(f"{env_id} {lib}.{algo} seed {seed}: eval {final:.1f}, last-10 training episodes {last_10:.1f}, "
                  f"{per_s:.0f} env steps/s, {per_cpu_s:.0f} per CPU-s, curve {curve.returns}", flush=True)  # fmt: skip
            merge_results(name, rows, rerun)  # after every run; other processes' rows are kept


if __name__ == "__main__":
    main()
