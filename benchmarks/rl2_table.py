"""RL² (Duan et al., 2016), Tables 1–2: total reward per trial of RL² and the classic baselines.

For each setting — Bernoulli bandits (n pulls, k arms) and random tabular MDPs (n episodes) —
this script

1. tunes the baselines' hyperparameters (UCB1's c, ε, OPSRL's K, UCRL2's radius scale, BEB's β)
   by grid search on *tuning* trials whose tasks are disjoint from the evaluation trials;
2. evaluates every baseline on the same ``--trials`` evaluation tasks (seed 0);
3. evaluates RL² from ``--ckpt-dir/rl2_<setting>.ckpt`` (trained with ``leyden fit --config
   examples/rl/rl2_*.yaml``; see benchmarks/rl2.md), or from the members a manifest
   ``rl2_<setting>.ensemble.json`` names, playing as one agent on the mean of their action
   probabilities; a setting without either is reported as "not yet run". How the agent acts is chosen
   on the tuning trials, as the baselines' hyperparameters are (``ACTING``): sampling its actions,
   taking their argmax, or sampling (as learnt, or warmer) until part of the trial is over and then
   taking the argmax. These acting rules belong to this benchmark, not to the method: RL² itself
   samples as it was trained;
4. prints the table in the paper's layout, ours beside the paper's figure; ``*`` marks entries a
   one-sided Welch t-test (p < 0.05) does not find worse than the row's best (the paper's bold);
5. writes ``benchmarks/results/rl2_table.json`` (``--quick``: ``rl2_table_quick.json``).

Examples::

    python benchmarks/rl2_table.py                                   # every paper setting, baselines + saved RL²
    python benchmarks/rl2_table.py --quick                           # 200 trials, a few minutes
    python benchmarks/rl2_table.py --settings bandit:20:3            # any n, k
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from scipy import stats

from leyden_core.benchmarking import invoked_command, result_row, write_results
from leyden_rl.meta.baselines.bandits import BANDIT_HPARAM_GRID, make_bandit_baselines
from leyden_rl.meta.baselines.mdps import MDP_HPARAM_GRID, make_mdp_baselines
from leyden_rl.meta.evaluate import PolicyAgent, run_trials
from leyden_rl.meta.policy_base import TrialPolicy
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.task_distribution import stream_generator
from leyden_rl.meta.tasks import BatchedTrialEnv, BernoulliBandits, RandomTabularMDPs, TabularTasks

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


def parse_setting(text: str) -> tuple[str, TabularTasks]:
    """``bandit:<n>:<k>`` or ``mdp:<n>`` → (family, task distribution)."""
    parts = text.split(":")
    if parts[0] == "bandit" and len(parts) == 3:
        return "bandit", BernoulliBandits(num_arms=int(parts[2]), num_pulls=int(parts[1]))
    if parts[0] == "mdp" and len(parts) == 2:
        return "mdp", RandomTabularMDPs(num_episodes=int(parts[1]))
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
# costs them 5–6 at n = 25) but late samples are mostly slips: little of the trial is left to use what
# they find, so the argmax after 60 % of the trial gains about 1 at n = 25. With the late argmax,
# sampling warmer early pays too (+0.7 to +2.0 for n = 25 agents at temperature 1.3). The bandit
# agents gain from none of these over the argmax.
ACTING = (Acting(1.0), Acting(0.0), Acting(0.6), Acting(0.8), Acting(0.6, 1.3), Acting(0.5, 1.5))


class RL2Agent:
    """Trained RL² policies playing by an :class:`Acting` rule, as one agent (a :class:`TrialAgent`).

    Several policies make an ensemble: each reads the same history with its own memory, and the agent
    acts on the mean of their action probabilities. Independently trained agents settle on different
    solutions, and the mean keeps what they agree on. One policy acts exactly as that policy.
    """

    def __init__(
        self, policies: list[TrialPolicy], argmax_from: float = 1.0, temperature: float = 1.0, seed: int = 0
    ) -> None:
        self.members = [PolicyAgent(policy) for policy in policies]
        self.argmax_from, self.temperature = argmax_from, temperature
        self.generator = stream_generator(seed, "agent")

    def reset(self, env: BatchedTrialEnv) -> None:
        for member in self.members:
            member.reset(env)

    @torch.no_grad()
    def act(self, obs: torch.Tensor, env: BatchedTrialEnv) -> torch.Tensor:
        logits = [member.logits(obs) for member in self.members]
        greedy = env.t >= self.argmax_from * env.trial_length
        if greedy and len(logits) == 1:
            return logits[0].argmax(-1)  # the logits' own argmax: a softmax could round near-ties together
        probs = torch.stack([F.softmax(member / self.temperature, -1) for member in logits]).mean(0)
        if greedy:
            return probs.argmax(-1)
        return torch.multinomial(probs, 1, generator=self.generator).squeeze(1)

    def update(
        self, state: torch.Tensor, action: torch.Tensor, reward: torch.Tensor, env: BatchedTrialEnv
    ) -> None:
        for member in self.members:
            member.update(state, action, reward, env)


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


def select_acting(
    policies: list[TrialPolicy], dist: TabularTasks, trials: int
) -> tuple[Acting, dict[str, float]]:
    """The way of acting (``ACTING``) with the best mean total reward on the tuning tasks, and every one's mean."""
    scores = {
        acting: run_trials(RL2Agent(policies, **acting._asdict()), dist, trials, TUNE_SEED).mean().item()
        for acting in ACTING
    }
    return max(scores, key=scores.get), {acting.label(): round(v, 4) for acting, v in scores.items()}


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
        help="tuning trials per way of acting of the RL² agent (ACTING)",
    )
    parser.add_argument("--quick", action="store_true", help="200 evaluation / 100 tuning trials")
    parser.add_argument("--ckpt-dir", default="benchmarks/checkpoints/rl2")
    parser.add_argument(
        "--out", default=None, help="results file (default benchmarks/results/rl2_table[_quick].json)"
    )
    parser.add_argument("--update", action="store_true", help="keep the other settings already in --out")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.tune_trials, args.select_trials = 200, 100, 100
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    command = invoked_command()
    rows, extra = [], {}
    for setting in args.settings:
        family, dist = parse_setting(setting)
        t0 = time.time()
        hparams = tune(family, dist, args.tune_trials)
        make = make_bandit_baselines if family == "bandit" else make_mdp_baselines
        results = {
            name: run_trials(agent, dist, args.trials, EVAL_SEED) for name, agent in make(hparams).items()
        }
        info = {"hparams": hparams, "baseline_seconds": round(time.time() - t0, 1)}
        stem = Path(args.ckpt_dir) / f"rl2_{setting.replace(':', '_')}"
        ckpt = next(
            (p for p in (stem.with_suffix(".ensemble.json"), stem.with_suffix(".ckpt")) if p.exists()), None
        )
        if ckpt is not None:
            members = load_members(ckpt)
            policies = [member.policy for member in members]
            acting, info["rl2_acting_tuning_mean"] = select_acting(policies, dist, args.select_trials)
            # an ensemble's members trained side by side: its steps add up, its wall clock is the longest
            info["rl2_env_steps"] = sum(member.env_steps for member in members)
            info["rl2_train_seconds"] = round(max(member.train_seconds for member in members), 1)
            info["rl2_checkpoint"] = str(ckpt)
            info["rl2_actions"] = acting.label()
            agent = RL2Agent(policies, **acting._asdict())
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
