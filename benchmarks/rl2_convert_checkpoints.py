"""Convert RL² checkpoints written before RL2 took its task family, policy and auxiliary losses as pieces.

The old ``RL2`` had one flat list of options (``task="bandit"``, ``arm_memories=True``, ``pull_features=True``,
``task_inference_coef=10`` ...). This maps them to the pieces that reproduce the same network —
``BernoulliBandits`` / ``RandomTabularMDPs``, ``GRUPolicy`` / ``TabularGRUPolicy`` / ``ArmMemoryPolicy``,
``TaskInference`` of the reward means — loads the same weights (strictly: every weight has a place and
every place a weight) and writes a checkpoint of the weights, the new hyperparameters and the training
counters, without the optimizer state. Options the new code no longer has are refused by name.

With ``--verify`` it then plays the 1000 evaluation trials of every setting whose converted checkpoint (or
ensemble manifest) is in ``--out``, as ``rl2_table.py`` does and acting as ``benchmarks/results/rl2_table.json``
records, and prints the new mean beside the recorded one.

    python benchmarks/rl2_convert_checkpoints.py --convert OLD.ckpt benchmarks/checkpoints/rl2/rl2_mdp_10.ckpt \
        --convert ... --verify
"""

from __future__ import annotations

import argparse
import inspect
import json
from pathlib import Path

import lightning
import torch
from rl2_table import ACTING, EVAL_SEED, RL2Agent, load_members, parse_setting

from leyden_rl.meta.arm_memory import ArmMemoryPolicy
from leyden_rl.meta.auxiliary import TaskInference
from leyden_rl.meta.evaluate import run_trials
from leyden_rl.meta.gru import GRUPolicy, TabularGRUPolicy
from leyden_rl.meta.pieces import describe
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits, RandomTabularMDPs

# Old options with their only value the new RL2 supports.
FIXED = {"separate_value": False, "previous_obs": False, "bilinear_rank": None, "transition_inference_coef": 0.0,
         "inference_stride": 1, "policy_reads_uncertainty": False, "anneal_lr": True, "anneal_clip": False,
         "anneal_ent": False, "clip_range_vf": None, "normalize_advantage": True, "curriculum_fraction": 0.5}  # fmt: skip
KEPT = ("num_trials", "total_env_steps", "learning_rate", "update_epochs", "num_minibatches", "clip_range",
        "ent_coef", "vf_coef", "max_grad_norm", "gamma", "gae_lambda", "reward_scale", "expected_rewards", "seed")  # fmt: skip


DEFAULTS = {name: p.default for name, p in inspect.signature(RL2).parameters.items()}  # the old ones too


def new_hparams(old: dict) -> dict:
    """The new RL2's arguments for an old checkpoint's hyperparameters."""
    unsupported = {k: old[k] for k, v in FIXED.items() if k in old and old[k] != v}
    if old.get("novelty_bonus") and old.get("novelty_bonus_fraction", 0.5) != 1.0:
        unsupported["novelty_bonus_fraction"] = old["novelty_bonus_fraction"]
    if unsupported:
        raise SystemExit(f"no new RL2 option for {unsupported}")
    if old["task"] == "bandit":
        tasks = BernoulliBandits(num_arms=old["num_arms"], num_pulls=old["num_pulls"])
    else:
        tasks = RandomTabularMDPs(num_episodes=old["num_episodes"])
    common = {"hidden_size": old["hidden_size"], "value_reads_task": old.get("value_reads_task", False)}
    if old.get("arm_memories"):
        policy = {"memory_size": old["hidden_size"], "value_reads_task": common["value_reads_task"]}
        policy_cls = ArmMemoryPolicy
    elif old.get("pull_features") or old.get("bilinear_head") or old.get("policy_reads_estimate"):
        policy_cls = TabularGRUPolicy
        policy = {**common, "embed_size": old.get("embed_size"), "pull_features": old.get("pull_features", False),
                  "bilinear_head": old.get("bilinear_head", False),
                  "reads_estimate": old.get("policy_reads_estimate", False)}  # fmt: skip
    else:
        policy_cls, policy = GRUPolicy, {**common, "embed_size": old.get("embed_size")}
    coef = old.get("task_inference_coef", 0.0)
    return {
        "tasks": describe(tasks),
        "policy": {"class_path": f"{policy_cls.__module__}.{policy_cls.__qualname__}", "init_args": policy},
        "auxiliary_losses": [describe(TaskInference(coef, "reward_means"))] if coef else [],
        **{k: old.get(k, DEFAULTS[k]) for k in KEPT},  # keys added after a checkpoint took the default
        "novelty_bonus": old.get("novelty_bonus", 0.0),
        "curriculum_episodes": old.get("curriculum_length"),
    }


def convert(source: Path, target: Path) -> None:
    old = torch.load(source, map_location="cpu", weights_only=False)
    hparams = new_hparams(dict(old["hyper_parameters"]))
    model = RL2(**hparams)
    state = dict(old["state_dict"])
    if model.policy.value_head is None and not hparams["policy"]["class_path"].endswith("ArmMemoryPolicy"):
        state = {k: v for k, v in state.items() if not k.startswith("policy.value_head.")}  # frozen, unused
    model.load_state_dict(state, strict=True)
    counters = old["leyden_rl2"]
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "hparams_name": "kwargs",
            "pytorch-lightning_version": lightning.__version__,
            "epoch": old["epoch"],
            "global_step": old["global_step"],
            "leyden_rl2": {  # an old run without its own action stream drew from a fresh one of the seed
                "action_rng": torch.Generator().manual_seed(hparams["seed"]).get_state(),
                **{
                    k: counters[k]
                    for k in ("env_steps", "iterations", "train_seconds", "env_rng", "action_rng")
                    if k in counters
                },
            },
        },
        target,
    )


def verify(folder: Path) -> None:
    """Each setting of rl2_table.json with a checkpoint in ``folder``: its evaluation mean, new and recorded."""
    recorded = json.loads(Path("benchmarks/results/rl2_table.json").read_text())
    for setting, info in recorded["settings"].items():
        stem = folder / f"rl2_{setting.replace(':', '_')}"
        path = next(
            (p for p in (stem.with_suffix(".ensemble.json"), stem.with_suffix(".ckpt")) if p.exists()), None
        )
        if path is None or "rl2_actions" not in info:
            continue
        acting = next(a for a in ACTING if a.label() == info["rl2_actions"])
        agent = RL2Agent([m.policy for m in load_members(path)], **acting._asdict())
        mean = run_trials(agent, parse_setting(setting)[1], 1000, EVAL_SEED).mean().item()
        value = next(r["value"] for r in recorded["rows"] if r["method"] == "leyden.RL2" and r["setting"] == setting
                     and r["metric"] == "mean_total_reward")  # fmt: skip
        print(f"{setting}: {acting.label()}: new code {mean:.4f}, rl2_table.json {value}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--convert", nargs=2, action="append", default=[], metavar=("OLD", "NEW"), type=Path)
    parser.add_argument(
        "--out", type=Path, default=Path("benchmarks/checkpoints/rl2"), help="where --verify looks"
    )
    parser.add_argument("--verify", action="store_true")
    args = parser.parse_args()
    for old, new in args.convert:
        new.parent.mkdir(parents=True, exist_ok=True)
        convert(old, new)
    if args.verify:
        verify(args.out)


if __name__ == "__main__":
    main()
