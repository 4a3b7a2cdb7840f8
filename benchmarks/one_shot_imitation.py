"""One-shot imitation on particle reaching, and BC / DAgger on CartPole from a PPO expert.

Part 1 — one-shot imitation (Duan et al., 2017). One :class:`OneShotImitation` network per
conditioning is trained by behaviour cloning on expert demonstration pairs of particle-reaching
tasks with K = 2..6 landmarks (mixed), then evaluated closed-loop on held-out tasks (fresh layouts,
colour orders and starts from a seed stream never used in training): success = within 0.1 of the
demonstrated landmark after 60 steps. Conditionings: ``demo`` (attention over one demonstration),
``none`` (same network, no demonstration), ``oracle`` (same network told the target colour).
Dynamics randomization (only when leyden-sim is installed; otherwise those rows are skipped and the
output says so): the ranges are leyden-sim ``PhysicsRange`` s (mass U[0.7, 1.5], damping U[0.1, 0.3],
nominal 1.0 / 0.2). ``demo+dr`` is trained on tasks whose physics is drawn from them, and both demo
policies and the scripted expert are evaluated on held-out tasks played through
``PhysicsRandomization(ParticleReachingEnv)`` (the env declares ``physics_parameters``), which draws
every episode's physics, the demonstration's included.

Part 2 — CartPole-v1. PPO (leyden_rl.ppo.PPO, rl-zoo settings) is trained as the expert (or loaded
with --expert-checkpoint) and used through CheckpointExpert. BC learns from 1, 5 and 20 of its
episodes (a fixed number of gradient steps); DAgger gets the same number of expert-labelled
episodes as rounds of one episode each (β_i = 0.5^i). Each policy plays 20 greedy evaluation episodes.

    python benchmarks/one_shot_imitation.py --quick    # 1 seed, 3000 tasks x 12 epochs, 100 eval tasks per K
    python benchmarks/one_shot_imitation.py            # 5 seeds, 4000 tasks x 15 epochs, 200 eval tasks per K
    python benchmarks/one_shot_imitation.py --policies demo demo+dr --skip-cartpole  # randomized rows only
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch

from leyden_core.benchmarking import result_row, write_results
from leyden_core.testing import quiet_trainer
from leyden_rl.envs import make_env
from leyden_rl.imitation.bc import BehaviourCloning
from leyden_rl.imitation.dagger import DAgger
from leyden_rl.imitation.demonstrations import (
    DemonstrationDataModule,
    episode_returns,
    record_demonstrations,
    rollout_episodes,
)
from leyden_rl.imitation.experts import CheckpointExpert
from leyden_rl.imitation.one_shot import (
    OneShotImitation,
    OneShotParticleDataModule,
    evaluate_success,
    evaluate_success_in_envs,
)
from leyden_rl.imitation.particle_reaching import (
    HORIZON,
    ParticleReachingEnv,
    expert_actions,
    sample_states,
    step_states,
)
from leyden_rl.ppo import PPO

try:
    from leyden_sim.physics import PhysicsRandomization, PhysicsRange
except ImportError:  # leyden-sim is optional: the dynamics-randomization rows need it
    PhysicsRandomization = None

LANDMARKS = (2, 3, 4, 5, 6)
POLICIES = {
    "demo": ("demo", False),
    "none": ("none", False),
    "oracle": ("oracle", False),
    "demo+dr": ("demo", True),
}
# Absolute values ("set"), uniform; training tasks are drawn from the same ranges by the batched generator.
if PhysicsRandomization is not None:
    PHYSICS = {"mass": PhysicsRange(0.7, 1.5, mode="set"), "damping": PhysicsRange(0.1, 0.3, mode="set")}
    TRAIN_DR = {f"{name}_range": (r.low, r.high) for name, r in PHYSICS.items()}
EVAL_SEED = 1_000_000  # evaluation tasks come from seeds never used for training data
DEMO_COUNTS = (1, 5, 20)


def randomized_envs(k: int):
    """Held-out particle-reaching envs whose every episode's physics leyden-sim draws."""
    return lambda: PhysicsRandomization(ParticleReachingEnv(num_landmarks=k), PHYSICS)


def one_shot(seed: int, args: argparse.Namespace, rows: list[dict]) -> None:
    randomized = PhysicsRandomization is not None
    for k in LANDMARKS:  # the scripted expert on exactly the evaluation layouts' distribution
        states = sample_states(np.random.default_rng([EVAL_SEED + seed, k]), args.eval_tasks, k)
        for _ in range(HORIZON):
            step_states(states, expert_actions(states))
        rows.append(result_row("scripted_expert", f"K={k},nominal", seed, "success_rate",
                               (states.distance_to_target() < 0.1).mean()))  # fmt: skip
        if randomized:
            success = evaluate_success_in_envs(None, randomized_envs(k), args.eval_tasks, EVAL_SEED + seed)
            rows.append(result_row("scripted_expert", f"K={k},dr", seed, "success_rate", success.mean()))
    for name in args.policies:
        conditioning, train_dr = POLICIES[name]
        if train_dr and not randomized:
            continue
        pl.seed_everything(seed, verbose=False)
        ranges = TRAIN_DR if train_dr else {}
        data = OneShotParticleDataModule(num_train_tasks=args.tasks, num_val_tasks=50, seed=seed, **ranges)
        model = OneShotImitation(conditioning, learning_rate=2e-3)
        start = time.perf_counter()
        quiet_trainer(max_epochs=args.epochs, enable_checkpointing=False, num_sanity_val_steps=0,
                      limit_val_batches=0).fit(model, data)  # fmt: skip
        minutes = (time.perf_counter() - start) / 60
        rows.append(result_row(f"leyden.OneShotImitation[{name}]", "train", seed, "train_minutes", minutes))
        for physics in ("nominal", "dr"):
            if physics == "dr" and (conditioning != "demo" or not randomized):
                continue
            for k in LANDMARKS:
                if physics == "dr":
                    success = evaluate_success_in_envs(
                        model, randomized_envs(k), args.eval_tasks, EVAL_SEED + seed
                    )
                else:
                    success = evaluate_success(model, k, args.eval_tasks, EVAL_SEED + seed)
                rows.append(result_row(f"leyden.OneShotImitation[{name}]", f"K={k},{physics}", seed,
                                       "success_rate", success.mean()))  # fmt: skip
                print(f"seed {seed} {name:8s} K={k} {physics:7s} success {success.mean():.3f}", flush=True)


def train_ppo_expert(seed: int, steps: int, path: Path) -> None:
    pl.seed_everything(seed, verbose=False)
    ppo = PPO(env_id="CartPole-v1", total_env_steps=steps, seed=seed)
    trainer = quiet_trainer(max_epochs=-1, enable_checkpointing=False)
    trainer.fit(ppo)
    trainer.save_checkpoint(path)


def cartpole(seed: int, args: argparse.Namespace, rows: list[dict], workdir: Path) -> None:
    ckpt = Path(args.expert_checkpoint) if args.expert_checkpoint else workdir / f"ppo_seed{seed}.ckpt"
    if not args.expert_checkpoint:
        start = time.perf_counter()
        train_ppo_expert(seed, args.ppo_steps, ckpt)
        rows.append(result_row("leyden.PPO", "CartPole-v1,expert", seed, "train_minutes",
                               (time.perf_counter() - start) / 60))  # fmt: skip
    expert = CheckpointExpert(str(ckpt), "PPO")
    demos = record_demonstrations(
        expert, "CartPole-v1", max(DEMO_COUNTS), workdir / f"demos_seed{seed}.npz", seed
    )
    env = make_env("CartPole-v1")
    expert_return = episode_returns(
        rollout_episodes(env, expert, args.eval_episodes, 10_000 + 1000 * seed)
    ).mean()
    env.close()
    rows.append(result_row("leyden.PPO", "CartPole-v1,expert", seed, "eval_return", expert_return))
    print(f"seed {seed} PPO expert return {expert_return:.1f}", flush=True)
    for n in DEMO_COUNTS:
        pl.seed_everything(seed, verbose=False)
        bc = BehaviourCloning(learning_rate=3e-3, eval_episodes=0)
        data = DemonstrationDataModule(str(demos), batch_size=64, val_fraction=0.0, num_episodes=n)
        quiet_trainer(max_steps=args.updates, max_epochs=-1, enable_checkpointing=False, limit_val_batches=0,
                      num_sanity_val_steps=0).fit(bc, data)  # fmt: skip
        bc_return = bc.evaluate(args.eval_episodes, 10_000 + 1000 * seed).mean()
        pl.seed_everything(seed, verbose=False)
        dagger = DAgger(
            expert="checkpoint", expert_kwargs={"checkpoint": str(ckpt), "model": "PPO"}, rounds=n,
            episodes_per_round=1, updates_per_round=max(1, args.updates // n), beta0=1.0, beta_decay=0.5,
            learning_rate=3e-3, seed=seed,
        )  # fmt: skip
        quiet_trainer(max_epochs=-1, enable_checkpointing=False).fit(dagger)
        dagger_return = dagger.evaluate(args.eval_episodes, 10_000 + 1000 * seed).mean()
        rows.append(
            result_row("leyden.BehaviourCloning", f"CartPole-v1,{n}_demos", seed, "eval_return", bc_return)
        )
        rows.append(result_row("leyden.DAgger", f"CartPole-v1,{n}_demos", seed, "eval_return", dagger_return))
        print(f"seed {seed} {n:2d} demos: BC {bc_return:.1f}  DAgger {dagger_return:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=None, help="default: 1 with --quick, else 5")
    parser.add_argument(
        "--expert-checkpoint", help="a PPO CartPole checkpoint to use instead of training one"
    )
    parser.add_argument("--skip-cartpole", action="store_true")
    parser.add_argument(
        "--policies",
        nargs="*",
        default=list(POLICIES),
        choices=list(POLICIES),
        help="one-shot policies to train",
    )
    args = parser.parse_args()
    if PhysicsRandomization is None:
        print("leyden-sim is not installed: skipping the dynamics-randomization rows (demo+dr, physics=dr)")
    torch.set_num_threads(1)
    seeds = args.seeds or (1 if args.quick else 5)
    args.tasks, args.epochs, args.eval_tasks = (3000, 12, 100) if args.quick else (4000, 15, 200)
    args.ppo_steps, args.updates, args.eval_episodes = (40_000, 600, 20) if args.quick else (60_000, 1000, 20)
    rows: list[dict] = []
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as workdir:
        for seed in range(seeds):
            one_shot(seed, args, rows)
            if not args.skip_cartpole:
                cartpole(seed, args, rows, Path(workdir))
    minutes = (time.perf_counter() - start) / 60
    print(f"total {minutes:.1f} min")
    name = "one_shot_imitation" + ("_quick" if args.quick else "")
    if args.skip_cartpole or args.policies != list(
        POLICIES
    ):  # a partial run must not overwrite the full table
        name += "_" + "_".join(p.replace("+", "_") for p in args.policies)
    write_results(
        name, rows,
        budget={"one_shot_tasks": args.tasks, "one_shot_epochs": args.epochs, "eval_tasks_per_k": args.eval_tasks,
                "ppo_env_steps": args.ppo_steps, "bc_updates": args.updates, "eval_episodes": args.eval_episodes},
        wall_minutes=minutes,
    )  # fmt: skip


if __name__ == "__main__":
    main()
