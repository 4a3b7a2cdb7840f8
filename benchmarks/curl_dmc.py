"""CURL vs pixel SAC on DeepMind Control from pixels (Laskin et al., 2020), Leyden's `leyden_rl.curl.CURL`.

Each (task, method, seed) runs in its own process with 1 torch thread; ``--jobs`` of them at once.
Per run: final evaluation return (10 episodes, deterministic policy, centre crop), the mean return
of the first and of the last 5 training episodes, env steps/s (simulator steps, action repeats
counted, training included), updates/s (time inside the gradient updates only), and the share of
wall time spent rendering. Two reference rows: ``uniform_random_actions`` evaluates random actions on
the same evaluation episodes (what a policy that learned nothing gets) and ``leyden.SAC_state`` is the
same SAC with CURL's settings given the task's state instead of pixels (what the RL part alone does
with this budget).
Writes ``benchmarks/results/curl_dmc[_quick|_paper].json``.

    python benchmarks/curl_dmc.py --quick                        # cartpole swingup, 1 seed, minutes
    python benchmarks/curl_dmc.py                                # CPU scale: 2 tasks x 2 methods x 3 seeds
    python benchmarks/curl_dmc.py --protocol paper --device cuda # 100k steps, six tasks, paper settings

CPU scale is not the paper's setting: to fit 2 CPU cores it renders 32x32 and crops 28 (the
paper's 100 -> 84), uses batch 32 and a budget of 5,000-7,500 updates per run (see PROTOCOLS).
Default methods: CURL and pixel SAC (no augmentation, no contrastive head); add
``leyden.pixel_SAC_crop`` (crop only) or the two references with ``--methods``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from leyden_core.benchmarking import result_row, write_results

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MUJOCO_GL", "egl")

PAPER_TASKS = (
    "finger-spin",
    "cartpole-swingup",
    "reacher-easy",
    "cheetah-run",
    "walker-walk",
    "ball_in_cup-catch",
)
PROTOCOLS = {
    # env steps per task, render size, crop, batch, seeds
    "quick": dict(
        tasks=("cartpole-swingup",), steps={"cartpole-swingup": 4000}, render=32, crop=28, batch=32, seeds=1
    ),
    "cpu": dict(
        tasks=("cartpole-swingup", "cartpole-balance"),
        steps={"cartpole-swingup": 60_000, "cartpole-balance": 40_000},
        render=32,
        crop=28,
        batch=32,
        seeds=3,
    ),  # fmt: skip
    "paper": dict(
        tasks=PAPER_TASKS, steps=dict.fromkeys(PAPER_TASKS, 100_000), render=100, crop=84, batch=128, seeds=3
    ),
}
METHODS = {  # CURL and its two ablations (the switches of leyden_rl.curl.CURL)
    "leyden.CURL": dict(contrastive=True),
    "leyden.pixel_SAC": dict(contrastive=False, crop=False),  # the paper's pixel SAC: no augmentation
    "leyden.pixel_SAC_crop": dict(contrastive=False),  # the "crop only" ablation
}
RANDOM = "uniform_random_actions"  # the reference: what the evaluation gives a policy that learned nothing
STATE_SAC = "leyden.SAC_state"  # the other reference: the same SAC, given the task's state instead of pixels


def evaluate(model, env_id: str, env_kwargs: dict, episodes: int = 10, seed: int = 10_000) -> float:
    import torch

    from leyden_rl.envs import episode_returns, make_env

    env = make_env(env_id, env_kwargs=env_kwargs)
    act = lambda obs: model.act(torch.as_tensor(obs, device=model.device)[None]).cpu().numpy()[0]  # noqa: E731
    returns = episode_returns(env, act, episodes, seed)
    env.close()
    return sum(returns) / len(returns)


def random_actions_return(env_id: str, env_kwargs: dict, seed: int, episodes: int = 10) -> float:
    """Mean return of uniformly random actions on the evaluation episodes (seeds 10000+)."""
    from leyden_rl.envs import episode_returns, make_env

    env = make_env(env_id, env_kwargs=env_kwargs)
    env.action_space.seed(seed)
    returns = episode_returns(env, lambda obs: env.action_space.sample(), episodes, 10_000)
    env.close()
    return sum(returns) / len(returns)


def worker(spec: dict) -> dict:
    """One training run; returns its measurements."""
    import lightning.pytorch as pl
    import torch

    if spec["method"] == RANDOM:
        env_kwargs = {"size": spec["render"]}
        return {"eval_return_final": random_actions_return(f"dmc/{spec['task']}", env_kwargs, spec["seed"])}

    from leyden_rl import dmc
    from leyden_rl.curl import CURL
    from leyden_rl.sac import SAC

    torch.set_num_threads(1)
    render_s = [0.0]
    observe = dmc.DMCEnv._observe

    def timed_observe(self):
        t = time.perf_counter()
        out = observe(self)
        render_s[0] += time.perf_counter() - t
        return out

    dmc.DMCEnv._observe = timed_observe
    pl.seed_everything(spec["seed"], verbose=False)
    env_id, env_kwargs = f"dmc/{spec['task']}", {"size": spec["render"]}
    lr = 2e-4 if spec["task"] == "cheetah-run" else 1e-3  # the paper's cheetah exception
    common = dict(env_id=env_id, batch_size=spec["batch"], total_env_steps=spec["steps"], seed=spec["seed"],
                  learning_rate=lr)  # fmt: skip
    if spec["method"] == STATE_SAC:  # CURL's SAC settings (its defaults), on state observations
        sac_args = inspect.signature(SAC.__init__).parameters
        curl_defaults = {
            name: p.default for name, p in inspect.signature(CURL.__init__).parameters.items()
            if name in sac_args and name not in common and p.default is not inspect.Parameter.empty
        }  # fmt: skip
        model = SAC(**{**curl_defaults, **common, "env_kwargs": {**env_kwargs, "observation": "state"}})
    else:
        model = CURL(**common, env_kwargs=env_kwargs, image_size=spec["crop"], **METHODS[spec["method"]])
    update_s = [0.0]
    update = model.update

    def timed_update():
        t = time.perf_counter()
        out = update()
        update_s[0] += time.perf_counter() - t
        return out

    model.update = timed_update

    class Progress(pl.Callback):  # new training episodes to the run's log, to follow a long run
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            while self.seen < len(pl_module.episode_log):
                steps, ret, _ = pl_module.episode_log[self.seen]
                print(
                    f"env_steps {steps} return {ret:.1f} ({time.perf_counter() - start:.0f}s)",
                    file=sys.stderr,
                    flush=True,
                )
                self.seen += 1

        seen = 0

    trainer = pl.Trainer(
        max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, accelerator=spec["device"], devices=1, callbacks=[Progress()],
    )  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model)
    wall = time.perf_counter() - start
    train_render = render_s[0]
    returns = [r for _, r, _ in model.episode_log]
    final = evaluate(model, env_id, model.env_kwargs)
    return {
        "eval_return_final": final,
        "train_return_first5": sum(returns[:5]) / max(1, len(returns[:5])),
        "train_return_last5": sum(returns[-5:]) / max(1, len(returns[-5:])),
        "env_steps_per_s": model.env_steps / wall,
        "updates_per_s": model.updates / max(update_s[0], 1e-9),
        "render_share": train_render / wall,
        "wall_s": wall,
        "curve": [[s, r] for s, r, _ in model.episode_log],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--protocol", choices=("cpu", "paper"), default="cpu")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seeds", type=int, help="number of seeds (default: the protocol's)")
    parser.add_argument(
        "--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1"
    )
    parser.add_argument("--batch", type=int, help="override the protocol's batch size (paper: 128 or 512)")
    parser.add_argument("--tasks", nargs="+")
    references = [RANDOM, STATE_SAC]
    parser.add_argument(
        "--methods",
        nargs="+",
        choices=[*sorted(METHODS), *references],
        default=["leyden.CURL", "leyden.pixel_SAC"],
    )
    parser.add_argument("--env-steps", type=int, help="override every task's env-step budget")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (one process, one thread each)")
    parser.add_argument(
        "--out", help="results JSON (default benchmarks/results/curl_dmc[_quick|_paper].json)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return

    name = "quick" if args.quick else args.protocol
    proto = PROTOCOLS[name]
    tasks = args.tasks or proto["tasks"]
    seeds = args.seeds or proto["seeds"]
    specs = [
        dict(task=t, method=m, seed=s, steps=args.env_steps or proto["steps"].get(t, 100_000),
             render=proto["render"], crop=proto["crop"], batch=args.batch or proto["batch"], device=args.device)
        for t in tasks for s in range(args.first_seed, args.first_seed + seeds) for m in args.methods
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    logdir = Path(tempfile.mkdtemp(prefix="curl_dmc_"))

    def launch(spec: dict) -> tuple[dict, dict | None]:
        tag = f"{spec['task']}_{spec['method']}_{spec['seed']}"
        with open(logdir / f"{tag}.log", "w") as log:
            proc = subprocess.run(
                [sys.executable, __file__, "--worker", json.dumps(spec)], env=env, stdout=subprocess.PIPE,
                stderr=log, text=True,
            )  # fmt: skip
        result = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
        print(f"{tag}: {result and {k: round(v, 2) for k, v in result.items() if k != 'curve'}}", flush=True)
        if result is None:
            print(f"  failed, see {logdir / (tag + '.log')}", flush=True)
        return spec, result

    print(f"{len(specs)} runs, {args.jobs} at a time; logs in {logdir}", flush=True)
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(launch, specs))

    rows, curves = [], []
    for spec, res in results:
        setting = f"dmc/{spec['task']} {spec['steps']} env steps, {spec['render']}px crop {spec['crop']}, batch {spec['batch']}"
        metrics = ("eval_return_final",) if spec["method"] == RANDOM else (
            "eval_return_final", "train_return_first5", "train_return_last5", "env_steps_per_s", "updates_per_s",
            "render_share", "wall_s")  # fmt: skip
        for metric in metrics:
            rows.append(result_row(spec["method"], setting, spec["seed"], metric,
                                   None if res is None else round(res[metric], 4)))  # fmt: skip
        if res is not None and "curve" in res:
            curves.append(
                dict(method=spec["method"], task=spec["task"], seed=spec["seed"], curve=res["curve"])
            )
    for task in tasks:
        for method in args.methods:
            vals = [r["value"] for r in rows if r["metric"] == "eval_return_final" and r["method"] == method
                    and r["setting"].startswith(f"dmc/{task} ") and r["value"] is not None]  # fmt: skip
            if vals:
                mean = sum(vals) / len(vals)
                std = (sum((v - mean) ** 2 for v in vals) / len(vals)) ** 0.5
                print(f"{task:20s} {method:24s} eval return {mean:7.1f} ± {std:5.1f} over {len(vals)} seeds")
    out = Path(
        args.out or Path(__file__).parent / "results" / f"curl_dmc{'' if name == 'cpu' else '_' + name}.json"
    )
    write_results(
        out.stem,
        rows,
        device=args.device,
        results_dir=out.parent,
        parallel_runs=args.jobs,
        torch_threads_per_run=1,
        curves=curves,
    )


if __name__ == "__main__":
    main()
