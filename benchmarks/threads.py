"""Default torch threads vs one and two threads per process, timed on the commands a newcomer runs.

    python benchmarks/threads.py            # full: the demo and the RL examples at their timed budgets
    python benchmarks/threads.py --quick    # same commands, small budgets (a few minutes on 2 cores)

For every example, each thread setting runs the real ``leyden fit`` command in a fresh folder, the
settings interleaved (default, 1, 2, default, 1, 2, ...) so a change in machine load hits them
alike. ``default`` is the environment a user has: no ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``, so
Leyden's thread policy (``leyden_core.threads``) chooses; the others set ``OMP_NUM_THREADS``.
Wall time includes start-up, as the user waits for it. The target: in every row the default is
within 1.15x of the fastest setting (median over repeats).

Writes ``benchmarks/results/threads.json``: one row per (example, setting, repeat), metric ``wall_s``,
and per example the ratio of the default's median to the fastest setting's (``default_over_fastest``).
Run it on an otherwise idle machine: other work on the cores changes what the default chooses.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from leyden_core.benchmarking import merge_results, read_results, result_row

REPO = Path(__file__).resolve().parents[1]
LEYDEN = str(Path(sys.executable).parent / "leyden")
TARGET = 1.15
SETTINGS = {"default": None, "OMP_NUM_THREADS=1": "1", "OMP_NUM_THREADS=2": "2"}

# example -> (config, full-budget overrides, quick-budget overrides). The demo is `make demo`'s command.
EXAMPLES: dict[str, tuple[str, list[str], list[str]]] = {
    "make demo (simclr_digits)": ("examples/selfsup/simclr_digits.yaml", [], ["--trainer.max_epochs=2"]),
    "ppo_cartpole": (
        "examples/rl/ppo_cartpole.yaml",
        ["--model.total_env_steps=20000"],
        ["--model.total_env_steps=2048"],
    ),
    "dqn_cartpole": (
        "examples/rl/dqn_cartpole.yaml",
        ["--model.total_env_steps=10000"],
        ["--model.total_env_steps=1536"],
    ),
    "sac_pendulum": (
        "examples/rl/sac_pendulum.yaml",
        ["--model.total_env_steps=3000"],
        ["--model.total_env_steps=400"],
    ),
}


def run_once(config: str, overrides: list[str], threads: str | None) -> tuple[float, int | None]:
    """Wall seconds of one ``leyden fit`` in a fresh folder, and the thread count it reported."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    env["WANDB_MODE"] = "offline"  # as `make demo` runs without credentials
    if threads is not None:
        env["OMP_NUM_THREADS"] = threads
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        result = subprocess.run(
            [LEYDEN, "fit", "--config", str(REPO / config), *overrides],
            cwd=folder, env=env, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"leyden fit --config {config} failed:\n{result.stderr[-3000:]}")
    chosen = re.search(r"torch threads: (\d+) per process", result.stdout + result.stderr)
    return wall, int(chosen.group(1)) if chosen else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small budgets (same commands)")
    parser.add_argument("--repeats", type=int, default=None, help="runs per setting (full: 3, quick: 1)")
    parser.add_argument("--examples", nargs="*", default=list(EXAMPLES), choices=list(EXAMPLES))
    parser.add_argument("--results-dir", default=None, help="where threads.json goes (default: results/)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)

    # one results file: a run of some examples replaces their rows and keeps the others' (and their details)
    results_name = "threads_quick" if args.quick else "threads"
    results_dir = Path(args.results_dir) if args.results_dir else REPO / "benchmarks" / "results"
    rerun = {f"leyden fit {example}" for example in args.examples}
    rows: list[dict] = []
    summary: dict[str, dict] = {}
    default_threads: dict[str, list[int | None]] = {}
    for name in args.examples:
        config, full, quick = EXAMPLES[name]
        overrides = quick if args.quick else full
        walls: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
        for repeat in range(repeats):
            for setting, threads in SETTINGS.items():
                wall, chosen = run_once(config, overrides, threads)
                walls[setting].append(wall)
                rows.append(result_row(f"leyden fit {name}", setting, repeat, "wall_s", wall))
                if setting == "default":
                    default_threads.setdefault(name, []).append(chosen)
                print(f"{name:28} {setting:18} repeat {repeat}: {wall:7.1f} s", flush=True)
        medians = {setting: statistics.median(values) for setting, values in walls.items()}
        ratio = medians["default"] / min(medians.values())
        summary[name] = {"median_wall_s": medians, "default_over_best": ratio, "met": ratio <= TARGET}
        rows.append(
            result_row(f"leyden fit {name}", "default ÷ fastest", None, "default_over_fastest", ratio)
        )

    earlier = read_results(results_name, results_dir)  # at write time: other processes may have written
    summary = {k: v for k, v in earlier.get("summary", {}).items() if k not in args.examples} | summary
    default_threads = {
        k: v for k, v in earlier.get("default_threads", {}).items() if k not in args.examples
    } | default_threads
    print(f"\n{'example':28} " + " ".join(f"{s:>18}" for s in SETTINGS) + "  default/best  threads chosen")
    for name, result in summary.items():
        cells = " ".join(f"{result['median_wall_s'][s]:17.1f}s" for s in SETTINGS)
        verdict = "met" if result["met"] else "MISSED"
        print(f"{name:28} {cells}  {result['default_over_best']:8.2f}x {verdict:6}  {default_threads[name]}")
    merge_results(
        results_name,
        rows,
        lambda row: row["method"] in rerun,
        results_dir=results_dir,
        earlier=earlier,
        target=f"default within {TARGET}x of the fastest setting in every row (median wall time)",
        summary=summary,
        default_threads=default_threads,
        budgets="quick" if args.quick else "full",
    )


if __name__ == "__main__":
    main()
