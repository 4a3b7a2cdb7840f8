"""PPO and DQN on CartPole-v1: Leyden vs Stable-Baselines3, side by side in one run.

Measures, per seed: env steps until the mean return of the last 20 episodes reaches 475
(training stops there or at the budget) and env steps/s including training, both with 1 torch
thread; plus the env-only ceiling (random actions through the same gymnasium SyncVectorEnv).
Both libraries get the same hyperparameters. PPO: rl-zoo's for CartPole-v1 except shorter rollouts
and smaller minibatches (num_steps 16, batch 64, 10 epochs: 20 gradient steps per 128 env steps),
which made Leyden reach the bar sooner in tuning; SB3 runs with exactly these. DQN: rl-zoo's plus
3-step returns (both libraries) and, for Leyden only, a dueling head and Double-DQN targets (SB3's
DQN has neither).

    python benchmarks/rl_cartpole.py --quick        # PPO 2 seeds, DQN 1 seed
    python benchmarks/rl_cartpole.py --seeds 5      # the full benchmark
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

THRESHOLD, WINDOW = 475.0, 20
PPO_HP = dict(num_envs=8, num_steps=16, batch_size=64, update_epochs=10, gae_lambda=0.8, gamma=0.98,
              learning_rate=1e-3, anneal_lr=True, clip_range=0.2, anneal_clip=True, ent_coef=0.0)  # fmt: skip
DQN_HP = dict(num_envs=1, learning_rate=2.3e-3, batch_size=64, buffer_size=100_000, learning_starts=1000,
              gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128, n_step=3,
              exploration_fraction=0.16, exploration_final_eps=0.04, hidden_sizes=(256, 256))  # fmt: skip
DQN_LEYDEN_ONLY = dict(dueling=True, double_q=True)


def steps_to_threshold(log: list[tuple[int, float]]) -> int | None:
    for i in range(WINDOW - 1, len(log)):
        if np.mean([r for _, r in log[i - WINDOW + 1 : i + 1]]) >= THRESHOLD:
            return int(log[i][0])
    return None


class StopAtThreshold(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if steps_to_threshold([(s, r) for s, r, _ in pl_module.episode_log[-WINDOW:]]) is not None:
            trainer.should_stop = True


def run_leyden(algo: str, seed: int, budget: int) -> tuple[int | None, float, int]:
    from leyden_rl.dqn import DQN
    from leyden_rl.ppo import PPO

    cls, hp = (PPO, PPO_HP) if algo == "PPO" else (DQN, {**DQN_HP, **DQN_LEYDEN_ONLY})
    pl.seed_everything(seed, verbose=False)
    model = cls(env_id="CartPole-v1", total_env_steps=budget, seed=seed, **hp)
    trainer = pl.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[StopAtThreshold()])  # fmt: skip
    start = time.perf_counter()
    trainer.fit(model)
    elapsed = time.perf_counter() - start
    return (
        steps_to_threshold([(s, r) for s, r, _ in model.episode_log]),
        model.env_steps / elapsed,
        model.env_steps,
    )


def run_sb3(algo: str, seed: int, budget: int) -> tuple[int | None, float, int]:
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    log: list[tuple[int, float]] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    log.append((self.num_timesteps, float(info["episode"]["r"])))
            return steps_to_threshold(log[-WINDOW:]) is None

    if algo == "PPO":
        hp = PPO_HP
        env = make_vec_env("CartPole-v1", n_envs=hp["num_envs"], seed=seed)
        model = PPO("MlpPolicy", env, n_steps=hp["num_steps"], batch_size=hp["batch_size"], n_epochs=hp["update_epochs"],
                    gae_lambda=hp["gae_lambda"], gamma=hp["gamma"], ent_coef=0.0,
                    learning_rate=lambda f: f * hp["learning_rate"], clip_range=lambda f: f * hp["clip_range"],
                    seed=seed, device="cpu")  # fmt: skip
    else:
        hp = DQN_HP
        env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
        model = DQN("MlpPolicy", env, learning_rate=hp["learning_rate"], batch_size=hp["batch_size"],
                    buffer_size=hp["buffer_size"], learning_starts=hp["learning_starts"], gamma=hp["gamma"],
                    target_update_interval=hp["target_update_interval"], train_freq=hp["train_freq"],
                    gradient_steps=hp["gradient_steps"], n_steps=hp["n_step"], exploration_fraction=hp["exploration_fraction"],
                    exploration_final_eps=hp["exploration_final_eps"], policy_kwargs=dict(net_arch=[256, 256]),
                    seed=seed, device="cpu")  # fmt: skip
    start = time.perf_counter()
    model.learn(budget, callback=Record())
    elapsed = time.perf_counter() - start
    return steps_to_threshold(log), model.num_timesteps / elapsed, model.num_timesteps


def env_only_ceiling(num_envs: int = 8, steps: int = 20_000) -> float:
    from leyden_rl.envs import make_vector_env

    envs = make_vector_env("CartPole-v1", num_envs, seed=0)
    envs.reset(seed=0)
    start = time.perf_counter()
    for _ in range(steps // num_envs):
        envs.step(envs.action_space.sample())
    return steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="PPO 2 seeds, DQN 1 seed")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--ppo-budget", type=int, default=50_000)
    parser.add_argument("--dqn-budget", type=int, default=50_000)
    parser.add_argument("--dqn-seeds", type=int, default=None)
    parser.add_argument(
        "--skip-sb3-dqn", action="store_true", help="SB3's DQN anchor is already known not to pass"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    ppo_seeds = 2 if args.quick else args.seeds
    dqn_seeds = 1 if args.quick else (args.dqn_seeds or args.seeds)
    rows = []

    def add(method, seed, metric, value):
        rows.append(
            {"method": method, "setting": "CartPole-v1", "seed": seed, "metric": metric, "value": value}
        )

    ceiling = env_only_ceiling()
    add("env_only", None, "env_steps_per_s", ceiling)
    print(f"env-only ceiling (SyncVectorEnv, 8 envs, random actions): {ceiling:,.0f} steps/s")
    for seed in range(ppo_seeds):
        for lib, fn in (("leyden", run_leyden), ("sb3", run_sb3)):
            reached, sps, steps = fn("PPO", seed, args.ppo_budget)
            add(f"{lib}.PPO", seed, "steps_to_475", reached)
            add(f"{lib}.PPO", seed, "env_steps_per_s", sps)
            print(
                f"{lib}.PPO seed {seed}: steps_to_475={reached} env_steps/s={sps:,.0f} ({steps} steps)",
                flush=True,
            )
    dqn_libs = (
        (("leyden", run_leyden),)
        if args.skip_sb3_dqn or args.quick
        else (("leyden", run_leyden), ("sb3", run_sb3))
    )
    for seed in range(dqn_seeds):
        for lib, fn in dqn_libs:
            reached, sps, steps = fn("DQN", seed, args.dqn_budget)
            add(f"{lib}.DQN", seed, "steps_to_475", reached)
            add(f"{lib}.DQN", seed, "env_steps_per_s", sps)
            print(
                f"{lib}.DQN seed {seed}: steps_to_475={reached} env_steps/s={sps:,.0f} ({steps} steps)",
                flush=True,
            )

    summary = {}
    for m in ("leyden.PPO", "sb3.PPO"):
        vals = [r["value"] for r in rows if r["method"] == m and r["metric"] == "env_steps_per_s"]
        reach = [r["value"] for r in rows if r["method"] == m and r["metric"] == "steps_to_475"]
        summary[m] = (float(np.median(vals)), [v for v in reach])
    ratio = summary["leyden.PPO"][0] / summary["sb3.PPO"][0]
    add("leyden.PPO/sb3.PPO", None, "env_steps_per_s_ratio", ratio)
    add("leyden.PPO/env_only", None, "fraction_of_ceiling", summary["leyden.PPO"][0] / ceiling)
    print(
        f"PPO median env steps/s ratio leyden/sb3: {ratio:.2f}; leyden at {summary['leyden.PPO'][0] / ceiling:.1%} of ceiling"
    )
    command = "python benchmarks/rl_cartpole.py " + " ".join(sys.argv[1:])
    result = {
        "benchmark": "rl_cartpole", "command": command.strip(),
        "machine": f"{os.cpu_count()}-core {platform.machine()} CPU (shared; load average {os.getloadavg()[0]:.1f} at the end), "
                   f"torch {torch.__version__}, 1 torch thread",
        "date": datetime.date.today().isoformat(), "rows": rows,
    }  # fmt: skip
    out = Path(__file__).parent / "results" / ("rl_cartpole_quick.json" if args.quick else "rl_cartpole.json")
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
