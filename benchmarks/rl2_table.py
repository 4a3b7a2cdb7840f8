"""RL² (Duan et al., 2016), Tables 1–2: total reward per trial of RL² and the classic baselines.

For each setting — Bernoulli bandits (n pulls, k arms) and random tabular MDPs (n episodes) —
this script

1. tunes the baselines' hyperparameters (UCB1's c, ε, OPSRL's K, UCRL2's radius scale, BEB's β)
   by grid search on *tuning* trials whose tasks are disjoint from the evaluation trials;
2. evaluates every baseline on the same ``--trials`` evaluation tasks (seed 0);
3. evaluates RL² from ``--ckpt-dir/rl2_<setting>.ckpt`` (trained first with ``--train-rl2``);
   a setting without a checkpoint is reported as "not yet run". Earlier trainings kept beside it as
   ``rl2_<setting>_<tag>.ckpt`` are candidates too: the one with the best mean on the *tuning* trials
   is evaluated, as the baselines' hyperparameters are chosen, so no evaluation task picks a checkpoint;
   the tuning trials also choose how it acts (``ACTING``): sampling the policy's actions, taking their
   argmax, or sampling (as learnt, or warmer) until part of the trial is over and then taking the argmax.
   That choice is among up to ~150 (checkpoint, way of acting) pairs whose means lie within a standard error
   of each other, so it gets ``--select-trials`` (5000) tuning trials, not the baselines' 500.
   A manifest ``rl2_<setting>_<tag>.ensemble.json`` (``{"members": [<checkpoint names>], ...}``)
   is a candidate too: its members play as one agent on the mean of their action probabilities
   (:class:`~leyden_rl.meta.rl2.RL2Agent`) — agents trained side by side, one per core, within the
   training budget;
4. prints the table in the paper's layout, ours beside the paper's figure; ``*`` marks entries a
   one-sided Welch t-test (p < 0.05) does not find worse than the row's best (the paper's bold);
5. writes ``benchmarks/results/rl2_table.json`` (``--quick``: ``rl2_table_quick.json``).

Examples::

    python benchmarks/rl2_table.py                                   # every paper setting, baselines + saved RL²
    python benchmarks/rl2_table.py --quick                           # 200 trials, a few minutes
    python benchmarks/rl2_table.py --settings bandit:10:5 mdp:10 --train-rl2 --rl2-minutes 30
    python benchmarks/rl2_table.py --settings bandit:20:3            # any n, k
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch
from scipy import stats

from leyden_core.benchmarking import invoked_command, result_row, write_results
from leyden_rl.meta.baselines.bandits import BANDIT_HPARAM_GRID, make_bandit_baselines
from leyden_rl.meta.baselines.mdps import MDP_HPARAM_GRID, make_mdp_baselines
from leyden_rl.meta.evaluate import run_trials
from leyden_rl.meta.rl2 import RL2, RL2Agent, make_task_distribution

# Reference figures (../shared/reference/rl2_tables.md): Duan et al. 2016, Tables 1 and 2.
PAPER = {
    "bandit:10:5": {"Random": 5.0, "Gittins": 6.6, "TS": 5.7, "OTS": 6.5, "UCB1": 6.7, "eps-Greedy": 6.6, "Greedy": 6.6, "RL2": 6.7},
    "bandit:10:10": {"Random": 5.0, "Gittins": 6.6, "TS": 5.5, "OTS": 6.2, "UCB1": 6.7, "eps-Greedy": 6.6, "Greedy": 6.6, "RL2": 6.7},
    "bandit:10:50": {"Random": 5.1, "Gittins": 6.5, "TS": 5.2, "OTS": 5.5, "UCB1": 6.6, "eps-Greedy": 6.5, "Greedy": 6.5, "RL2": 6.8},
    "bandit:100:5": {"Random": 49.9, "Gittins": 78.3, "TS": 74.7, "OTS": 77.9, "UCB1": 78.0, "eps-Greedy": 75.4, "Greedy": 74.8, "RL2": 78.7},
    "bandit:100:10": {"Random": 49.9, "Gittins": 82.8, "TS": 76.7, "OTS": 81.4, "UCB1": 82.4, "eps-Greedy": 77.4, "Greedy": 77.1, "RL2": 83.5},
    "bandit:100:50": {"Random": 49.8, "Gittins": 85.2, "TS": 64.5, "OTS": 67.7, "UCB1": 84.3, "eps-Greedy": 78.3, "Greedy": 78.0, "RL2": 84.9},
    "mdp:10": {"Random": 100.1, "PSRL": 138.1, "OPSRL": 144.1, "UCRL2": 146.6, "BEB": 150.2, "eps-Greedy": 132.8, "Greedy": 134.8, "RL2": 156.2},
    "mdp:25": {"Random": 250.2, "PSRL": 408.8, "OPSRL": 425.2, "UCRL2": 424.1, "BEB": 427.8, "eps-Greedy": 377.3, "Greedy": 368.8, "RL2": 445.7},
}  # fmt: skip
TUNED = {
    "OTS": "ots_samples",
    "UCB1": "ucb1_c",
    "eps-Greedy": "epsilon",
    "OPSRL": "opsrl_k",
    "UCRL2": "ucrl2_scale",
    "BEB": "beb_beta",
}
EVAL_SEED, TUNE_SEED = 0, 10_000


def parse_setting(text: str) -> tuple[str, dict]:
    """``bandit:<n>:<k>`` or ``mdp:<n>`` → (family, task kwargs)."""
    parts = text.split(":")
    if parts[0] == "bandit" and len(parts) == 3:
        return "bandit", {"num_pulls": int(parts[1]), "num_arms": int(parts[2])}
    if parts[0] == "mdp" and len(parts) == 2:
        return "mdp", {"num_episodes": int(parts[1])}
    sys.exit(f"bad setting {text!r}: use bandit:<n>:<k> or mdp:<n>")


def label(setting: str) -> str:
    parts = setting.split(":")
    return f"n={parts[1]}, k={parts[2]}" if parts[0] == "bandit" else f"n={parts[1]}"


def tune(family: str, dist, trials: int) -> dict[str, float]:
    """Best value of each tuned hyperparameter on the tuning tasks (one at a time; they are independent)."""
    grid = BANDIT_HPARAM_GRID if family == "bandit" else MDP_HPARAM_GRID
    make = make_bandit_baselines if family == "bandit" else make_mdp_baselines
    best: dict[str, float] = {}
    for method, key in TUNED.items():
        if key not in grid:
            continue
        scores = {
            v: run_trials(make({key: v}, seed=1)[method], dist, trials, TUNE_SEED).mean().item()
            for v in grid[key]
        }
        best[key] = max(scores, key=scores.get)
    return best


class Acting(NamedTuple):
    """How an RL² agent plays (:class:`RL2Agent`'s arguments): it samples its actions with the logits
    divided by ``temperature`` until ``argmax_from`` of the trial is over, then takes the argmax."""

    argmax_from: float
    temperature: float = 1.0

    def label(self) -> str:
        """``rl2_actions`` in the JSON: e.g. ``sampled``, ``argmax``, ``argmax from 60%``, or
        ``argmax from 60%, sampled at temperature 1.3 before``."""
        sampled = "sampled" if self.temperature == 1.0 else f"sampled at temperature {self.temperature:g}"
        if self.argmax_from == 1.0:
            return sampled
        if self.argmax_from == 0.0:
            return "argmax"
        before = "" if self.temperature == 1.0 else f", {sampled} before"
        return f"argmax from {self.argmax_from:.0%}{before}"


# The ways of acting the tuning trials choose among. The MDP agents explore by sampling (argmax throughout
# costs them 5–6 at n = 25) but late samples are mostly slips: on scratch trials (seed 777) the n = 25
# table agent gained 0.9 from the argmax after 60 % of the trial, 0.7 after 80 %, 0.1 after 40 %. With
# the late argmax, sampling warmer early pays too (+0.7 to +2.0 for n = 25 agents at temperature 1.3,
# session 26), where warmer sampling throughout did not (session 18). The bandit agents gain from none
# of these over the argmax.
ACTING = (Acting(1.0), Acting(0.0), Acting(0.6), Acting(0.8), Acting(0.6, 1.3), Acting(0.5, 1.5))


def load_members(path: Path) -> list[RL2]:
    """The trained agent of a checkpoint, or the members an ``.ensemble.json`` manifest names."""
    if not path.name.endswith(".ensemble.json"):
        return [RL2.load_from_checkpoint(path, map_location="cpu")]
    names = json.loads(path.read_text()).get("members", [])
    missing = [name for name in names if not (path.parent / name).exists()]
    if len(names) < 2 or missing:
        sys.exit(
            f"{path}: an ensemble manifest needs two or more member checkpoints beside it "
            f'(members {names}, missing {missing}); fix its "members" list'
        )
    return [RL2.load_from_checkpoint(path.parent / name, map_location="cpu") for name in names]


def select_checkpoint(candidates: list[Path], dist, trials: int) -> tuple[Path, Acting, dict[str, float]]:
    """The checkpoint (or ensemble) and way of acting (``ACTING``) with the best mean total
    reward on the tuning tasks, and every candidate's mean. Sampling is how the policy was trained;
    the argmax of a policy that has settled on near-deterministic choices can do better or worse, and
    one that explores by sampling can gain from committing late in the trial (and from exploring more
    before it commits), so the tuning tasks decide, as they decide the baselines' hyperparameters."""
    scores = {}
    for path in candidates:
        policies = [member.policy for member in load_members(path)]
        for acting in ACTING:
            returns = run_trials(RL2Agent(policies, **acting._asdict()), dist, trials, TUNE_SEED)
            scores[(path, acting)] = returns.mean().item()
    path, acting = max(scores, key=scores.get)
    named = {f"{p.name} ({a.label()})": round(v, 4) for (p, a), v in scores.items()}
    return path, acting, named


def train_rl2(family: str, task_kwargs: dict, minutes: float, path: Path, overrides: dict) -> float:
    """Train RL² for at most ``minutes`` (wall clock) and save the checkpoint; returns seconds spent."""
    import lightning.pytorch as pl

    model = RL2(task=family, **task_kwargs, **overrides)
    trainer = pl.Trainer(
        max_epochs=-1, max_time={"minutes": minutes}, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )  # fmt: skip
    start = time.time()
    trainer.fit(model)
    seconds = time.time() - start
    path.parent.mkdir(parents=True, exist_ok=True)
    trainer.save_checkpoint(path)
    return seconds


def train_rl2_side_by_side(
    family: str, task_kwargs: dict, minutes: float, path: Path, overrides: dict, members: int
) -> float:
    """Train ``members`` agents at once, one process each (one core each with ``OMP_NUM_THREADS=1``),
    seeded ``seed``, ``seed + 1``, …: member 0 is saved as ``path``, the others beside it as
    ``<stem>_member<i>.ckpt``, and ``<stem>_members.ensemble.json`` names them all, so each member and
    their ensemble are candidates. Returns the wall-clock seconds the slowest member took."""
    paths = [path] + [path.with_name(f"{path.stem}_member{i}.ckpt") for i in range(1, members)]
    seed = overrides.get("seed", 0)
    jobs = [(family, task_kwargs, minutes, p, {**overrides, "seed": seed + i}) for i, p in enumerate(paths)]
    with multiprocessing.get_context("spawn").Pool(members) as pool:
        seconds = pool.starmap(train_rl2, jobs)
    manifest = {"members": [p.name for p in paths], "trained": "side by side, one process each"}
    path.with_name(f"{path.stem}_members.ensemble.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return max(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--settings", nargs="*", default=list(PAPER), help="bandit:<n>:<k> or mdp:<n>")
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument(
        "--tune-trials", type=int, default=500, help="tuning trials per baseline hyperparameter value"
    )
    parser.add_argument(
        "--select-trials",
        type=int,
        default=5000,
        help="tuning trials per RL² candidate (checkpoint × way of acting, ACTING)",
    )
    parser.add_argument("--quick", action="store_true", help="200 evaluation / 100 tuning trials")
    parser.add_argument("--ckpt-dir", default="benchmarks/checkpoints/rl2")
    parser.add_argument(
        "--train-rl2", action="store_true", help="train RL² for settings without a checkpoint"
    )
    parser.add_argument("--rl2-minutes", type=float, default=30.0)
    parser.add_argument(
        "--rl2-members",
        type=int,
        default=1,
        help="with --train-rl2: train this many agents side by side (seeds seed, seed + 1, ...), one "
        "process each, and offer their ensemble as a candidate too",
    )
    parser.add_argument(
        "--out", default=None, help="results file (default benchmarks/results/rl2_table[_quick].json)"
    )
    parser.add_argument(
        "--rl2-args", default="{}", help="JSON of RL2 init overrides, e.g. '{\"hidden_size\": 256}'"
    )
    parser.add_argument("--update", action="store_true", help="keep the other settings already in --out")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.tune_trials, args.select_trials = 200, 100, 100
    if args.rl2_members < 1:
        parser.error(f"--rl2-members {args.rl2_members}: train one agent or more (1: no ensemble)")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    command = invoked_command()
    rows, extra = [], {}
    for setting in args.settings:
        family, task_kwargs = parse_setting(setting)
        setting = f"{family}:" + ":".join(str(v) for v in task_kwargs.values())
        dist = make_task_distribution(family, **task_kwargs)
        t0 = time.time()
        hparams = tune(family, dist, args.tune_trials)
        make = make_bandit_baselines if family == "bandit" else make_mdp_baselines
        results = {
            name: run_trials(agent, dist, args.trials, EVAL_SEED) for name, agent in make(hparams).items()
        }
        info = {"hparams": hparams, "baseline_seconds": round(time.time() - t0, 1)}
        ckpt = Path(args.ckpt_dir) / f"rl2_{setting.replace(':', '_')}.ckpt"
        if not ckpt.exists() and args.train_rl2:
            overrides = json.loads(args.rl2_args)
            seconds = (
                train_rl2(family, task_kwargs, args.rl2_minutes, ckpt, overrides)
                if args.rl2_members == 1
                else train_rl2_side_by_side(
                    family, task_kwargs, args.rl2_minutes, ckpt, overrides, args.rl2_members
                )
            )
            info["rl2_train_wall_seconds"] = round(seconds, 1)
        if ckpt.exists():
            candidates = [ckpt, *sorted(ckpt.parent.glob(f"{ckpt.stem}_*.ckpt"))]
            candidates += sorted(ckpt.parent.glob(f"{ckpt.stem}_*.ensemble.json"))
            ckpt, acting, info["rl2_candidates_tuning_mean"] = select_checkpoint(
                candidates, dist, args.select_trials
            )
            members = load_members(ckpt)
            # an ensemble's members trained side by side: its steps add up, its wall clock is the longest
            info["rl2_env_steps"] = sum(member.env_steps for member in members)
            info["rl2_train_seconds"] = round(max(member.train_seconds for member in members), 1)
            info["rl2_checkpoint"] = str(ckpt)
            info["rl2_actions"] = acting.label()
            agent = RL2Agent([member.policy for member in members], **acting._asdict())
            results["RL2"] = run_trials(agent, dist, args.trials, EVAL_SEED)
        extra[setting] = info
        best = max(results, key=lambda m: results[m].mean().item())
        cells = [label(setting)]
        paper = PAPER.get(setting, {})
        for method in list(make({})) + ["RL2"]:
            if method not in results:
                cells.append(f"not yet run ({paper.get(method, '-')})")
                continue
            r = results[method]
            mean, sem = r.mean().item(), r.std().item() / len(r) ** 0.5
            worse = (
                method != best
                and stats.ttest_ind(results[best], r, equal_var=False, alternative="greater").pvalue < 0.05
            )
            cells.append(f"{mean:.1f}{'' if worse else '*'} ({paper.get(method, '-')})")
            for metric, value in (("mean_total_reward", mean), ("stderr", sem)):
                rows.append(result_row(f"leyden.{method}", setting, EVAL_SEED, metric, round(value, 4)))
        rows += [result_row(f"paper.{m}", setting, None, "mean_total_reward", v) for m, v in paper.items()]
        info["table_row"] = "| " + " | ".join(cells) + " |"
        print(f"{setting}: done in {time.time() - t0:.0f}s, {info}", flush=True)
    out = Path(
        args.out or ("benchmarks/results/" + ("rl2_table_quick.json" if args.quick else "rl2_table.json"))
    )
    commands = [command]
    if args.update and out.exists():  # keep the settings this run did not recompute
        old = json.loads(out.read_text())
        rows = [r for r in old["rows"] if r["setting"] not in extra] + rows
        extra = {**{k: v for k, v in old["settings"].items() if k not in extra}, **extra}
        commands = old["commands"] + commands
    order = [k for k in PAPER if k in extra] + [k for k in extra if k not in PAPER]
    # the JSON in the paper's order, however often --update re-ran a setting
    extra = {k: extra[k] for k in order}
    rows.sort(key=lambda row: order.index(row["setting"]))
    for family in ("bandit", "mdp"):
        lines = [extra[k]["table_row"] for k in order if k.startswith(family)]
        if not lines:
            continue
        methods = list((make_bandit_baselines if family == "bandit" else make_mdp_baselines)({})) + ["RL2"]
        print(
            f"\n{'Bandits' if family == 'bandit' else 'Tabular MDPs'}: ours* (paper), mean total reward over {args.trials} trials"
        )
        print("| setup | " + " | ".join(methods) + " |")
        print("|" + "---|" * (len(methods) + 1))
        print("\n".join(lines))
    write_results(
        out.stem, rows, results_dir=out.parent, commands=commands,
        trials=args.trials, tune_trials=args.tune_trials, select_trials=args.select_trials, settings=extra,
    )  # fmt: skip


if __name__ == "__main__":
    main()
