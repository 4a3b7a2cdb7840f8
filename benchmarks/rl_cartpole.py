"""PPO, DQN, TRPO and A2C on CartPole-v1: Leyden vs Stable-Baselines3 (sb3-contrib for TRPO), side by side.

Measures, per seed: env steps until the mean return of the last 20 episodes reaches 475
(training stops there or at the budget) and env steps/s including training, both with 1 torch
thread; plus the env-only ceiling (random actions through the same gymnasium SyncVectorEnv).
Both libraries get the same hyperparameters. PPO: rl-zoo's for CartPole-v1 except shorter rollouts
and smaller minibatches (num_steps 16, batch 64, 10 epochs: 20 gradient steps per 128 env steps),
which made Leyden reach the bar sooner in tuning; SB3 runs with exactly these. DQN: rl-zoo's plus
3-step returns and a learning rate decayed linearly to 0 over the 50k budget (both libraries; with
rl-zoo's constant rate Leyden missed the bar in seeds 0 and 1, see benchmarks/rl.md) and,
for Leyden only, a dueling head and Double-DQN targets (SB3's DQN has neither). TRPO and A2C:
rl-zoo's settings, read from examples/rl/trpo_cartpole.yaml and a2c_cartpole.yaml (the recipe is
the config). RecurrentPPO (against sb3-contrib's RecurrentPPO, and plain PPO for contrast) runs on
CartPoleNoVel-v1, CartPole with its velocities masked, with rl-zoo's ppo_lstm settings read from
examples/rl/recurrent_ppo_cartpole_novel.yaml for both libraries: observations standardised and rewards
scaled by running statistics (SB3's VecNormalize, Leyden's normalize_observations/normalize_rewards),
PyTorch's default initialisation. Plain PPO there keeps its CartPole-v1 settings above. ``--first-seed``
moves the seeds (tuning runs use seeds >= 100; the recorded ones are 0-4).

Every run writes results/rl_cartpole.json (``--quick``: rl_cartpole_quick.json), ``setting`` = the env
id: the rows of the (method, env) pairs it ran replace theirs, all other rows and the commands that
measured them are kept. Beside the per-seed rows, ``leyden.X/sb3.X`` rows hold the ratio of the two
libraries' median env steps per (CPU-)second.

    python benchmarks/rl_cartpole.py --quick        # PPO 2 seeds, DQN 1 seed
    python benchmarks/rl_cartpole.py --seeds 5      # the full benchmark
    python benchmarks/rl_cartpole.py --algos TRPO,A2C --seeds 5 --budget 200000
    python benchmarks/rl_cartpole.py --algos RecurrentPPO,PPO --env CartPoleNoVel-v1 --seeds 5 --budget 100000
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("WANDB_MODE", "disabled")
import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import yaml  # noqa: E402

from leyden_core.benchmarking import Clock, merge_results, read_results, result_row  # noqa: E402

THRESHOLD, WINDOW = 475.0, 20
RATES = ("env_steps_per_s", "env_steps_per_cpu_s")  # wall-clock and CPU-time rates
PPO_HP = dict(num_envs=8, num_steps=16, batch_size=64, update_epochs=10, gae_lambda=0.8, gamma=0.98,
              learning_rate=1e-3, anneal_lr=True, clip_range=0.2, anneal_clip=True, ent_coef=0.0)  # fmt: skip
DQN_HP = dict(num_envs=1, learning_rate=2.3e-3, anneal_lr=True, batch_size=64, buffer_size=100_000,
              learning_starts=1000, gamma=0.99, target_update_interval=10, train_freq=256, gradient_steps=128,
              n_step=3, exploration_fraction=0.16, exploration_final_eps=0.04, hidden_sizes=(256, 256))  # fmt: skip
DQN_LEYDEN_ONLY = dict(dueling=True, double_q=True)
EXAMPLES = Path(__file__).parents[1] / "examples" / "rl"


def recipe(config: str) -> dict:
    """A method's settings for this benchmark: the ``init_args`` of its example config."""
    args = yaml.safe_load((EXAMPLES / config).read_text())["model"]["init_args"]
    return {k: v for k, v in args.items() if k not in ("env_id", "total_env_steps")}


TRPO_HP, A2C_HP = recipe("trpo_cartpole.yaml"), recipe("a2c_cartpole.yaml")
RPPO_HP = recipe("recurrent_ppo_cartpole_novel.yaml")


def steps_to_threshold(log: list[tuple[int, float]]) -> int | None:
    for i in range(WINDOW - 1, len(log)):
        if np.mean([r for _, r in log[i - WINDOW + 1 : i + 1]]) >= THRESHOLD:
            return int(log[i][0])
    return None


class StopAtThreshold(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if steps_to_threshold([(s, r) for s, r, _ in pl_module.episode_log[-WINDOW:]]) is not None:
            trainer.should_stop = True


def run_leyden(
    algo: str, seed: int, budget: int, env_id: str = "CartPole-v1"
) -> tuple[int | None, int, float, float]:
    from leyden_rl.a2c import A2C
    from leyden_rl.dqn import DQN
    from leyden_rl.ppo import PPO
    from leyden_rl.recurrent_ppo import RecurrentPPO
    from leyden_rl.trpo import TRPO

    cls, hp = {
        "PPO": (PPO, PPO_HP), "DQN": (DQN, {**DQN_HP, **DQN_LEYDEN_ONLY}), "TRPO": (TRPO, TRPO_HP), "A2C": (A2C, A2C_HP),
        "RecurrentPPO": (RecurrentPPO, RPPO_HP),
    }[algo]  # fmt: skip
    pl.seed_everything(seed, verbose=False)
    model = cls(env_id=env_id, total_env_steps=budget, seed=seed, **hp)
    trainer = pl.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[StopAtThreshold()])  # fmt: skip
    clock = Clock()
    trainer.fit(model)
    return (steps_to_threshold([(s, r) for s, r, _ in model.episode_log]), model.env_steps, *clock.read())


def sb3_on_policy_env(env_id: str, hp: dict, seed: int):
    """The vector env for SB3's on-policy methods: ``VecNormalize`` where the recipe normalizes."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    env = make_vec_env(env_id, n_envs=hp["num_envs"], seed=seed)
    obs, reward = hp.get("normalize_observations", False), hp.get("normalize_rewards", False)
    return VecNormalize(env, norm_obs=obs, norm_reward=reward, gamma=hp["gamma"]) if obs or reward else env


def sb3_on_policy_options(hp: dict) -> dict:
    """SB3's names for a Leyden recipe's policy options: gSDE, initial log-std, orthogonal init and a
    linearly decaying step size (``anneal_lr``)."""
    lr = hp["learning_rate"]
    return dict(
        use_sde=hp.get("use_sde", False), sde_sample_freq=hp.get("sde_sample_freq", -1),
        learning_rate=(lambda f: f * lr) if hp.get("anneal_lr", False) else lr,
        policy_kwargs=dict(log_std_init=hp.get("log_std_init", 0.0), ortho_init=hp.get("orthogonal_init", True)),
    )  # fmt: skip


def sb3_trpo(env_id: str, hp: dict, seed: int):
    """sb3-contrib's TRPO with the settings of a Leyden TRPO recipe (``hp``: its ``init_args``)."""
    from sb3_contrib import TRPO

    return TRPO("MlpPolicy", sb3_on_policy_env(env_id, hp, seed), n_steps=hp["num_steps"], batch_size=hp["batch_size"],
                n_critic_updates=hp["critic_epochs"], target_kl=hp["target_kl"], cg_damping=hp["cg_damping"],
                gamma=hp["gamma"], gae_lambda=hp["gae_lambda"], seed=seed, device="cpu",
                **sb3_on_policy_options(hp))  # fmt: skip


def sb3_a2c(env_id: str, hp: dict, seed: int):
    """SB3's A2C with the settings of a Leyden A2C recipe (``hp``: its ``init_args``)."""
    from stable_baselines3 import A2C

    # SB3's value loss is the mean squared error, Leyden's half of it (CleanRL's): the same loss takes half the coefficient
    return A2C("MlpPolicy", sb3_on_policy_env(env_id, hp, seed), n_steps=hp["num_steps"], gamma=hp["gamma"],
               gae_lambda=hp["gae_lambda"], ent_coef=hp["ent_coef"], vf_coef=hp["vf_coef"] / 2,
               max_grad_norm=hp["max_grad_norm"], rms_prop_eps=hp["rms_prop_eps"],
               normalize_advantage=hp.get("normalize_advantage", False), seed=seed, device="cpu",
               **sb3_on_policy_options(hp))  # fmt: skip


def run_sb3(
    algo: str, seed: int, budget: int, env_id: str = "CartPole-v1"
) -> tuple[int | None, int, float, float]:
    from stable_baselines3 import DQN, PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    import leyden_rl.masked_velocity  # noqa: F401  (registers CartPoleNoVel-v1 for gymnasium.make)

    log: list[tuple[int, float]] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    log.append((self.num_timesteps, float(info["episode"]["r"])))
            return steps_to_threshold(log[-WINDOW:]) is None

    if algo == "PPO":
        hp = PPO_HP
        env = make_vec_env(env_id, n_envs=hp["num_envs"], seed=seed)
        model = PPO("MlpPolicy", env, n_steps=hp["num_steps"], batch_size=hp["batch_size"], n_epochs=hp["update_epochs"],
                    gae_lambda=hp["gae_lambda"], gamma=hp["gamma"], ent_coef=0.0,
                    learning_rate=lambda f: f * hp["learning_rate"], clip_range=lambda f: f * hp["clip_range"],
                    seed=seed, device="cpu")  # fmt: skip
    elif algo == "RecurrentPPO":
        from sb3_contrib import RecurrentPPO
        from stable_baselines3.common.vec_env import VecNormalize

        hp = RPPO_HP
        env = VecNormalize(
            make_vec_env(env_id, n_envs=hp["num_envs"], seed=seed), gamma=hp["gamma"],
            norm_obs=hp.get("normalize_observations", False), norm_reward=hp.get("normalize_rewards", False),
        )  # fmt: skip
        policy_kwargs = dict(lstm_hidden_size=hp["memory_size"], enable_critic_lstm=not hp["shared_memory"],
                             shared_lstm=hp["shared_memory"], net_arch=dict(pi=hp["hidden_sizes"], vf=hp["hidden_sizes"]),
                             activation_fn=torch.nn.ReLU, ortho_init=hp.get("orthogonal_init", True))  # fmt: skip
        model = RecurrentPPO("MlpLstmPolicy", env, n_steps=hp["num_steps"], batch_size=hp["batch_size"],
                             n_epochs=hp["update_epochs"], gae_lambda=hp["gae_lambda"], gamma=hp["gamma"],
                             ent_coef=hp["ent_coef"], learning_rate=lambda f: f * hp["learning_rate"],
                             clip_range=lambda f: f * hp["clip_range"], policy_kwargs=policy_kwargs, seed=seed,
                             device="cpu")  # fmt: skip
    elif algo == "TRPO":
        model = sb3_trpo(env_id, TRPO_HP, seed)
    elif algo == "A2C":
        model = sb3_a2c(env_id, A2C_HP, seed)
    else:
        hp = DQN_HP
        env = make_vec_env("CartPole-v1", n_envs=1, seed=seed)
        model = DQN("MlpPolicy", env, learning_rate=lambda f: f * hp["learning_rate"], batch_size=hp["batch_size"],
                    buffer_size=hp["buffer_size"], learning_starts=hp["learning_starts"], gamma=hp["gamma"],
                    target_update_interval=hp["target_update_interval"], train_freq=hp["train_freq"],
                    gradient_steps=hp["gradient_steps"], n_steps=hp["n_step"], exploration_fraction=hp["exploration_fraction"],
                    exploration_final_eps=hp["exploration_final_eps"], policy_kwargs=dict(net_arch=[256, 256]),
                    seed=seed, device="cpu")  # fmt: skip
    clock = Clock()
    model.learn(budget, callback=Record())
    return (steps_to_threshold(log), model.num_timesteps, *clock.read())


def median_ratios(rows: list[dict], algo: str, env_id: str) -> list[dict]:
    """``leyden.X/sb3.X`` rows: the ratio of the libraries' median env steps per second and per CPU-second."""
    ratios = []
    for metric in RATES:
        values = {
            lib: [
                r["value"]
                for r in rows
                if (r["method"], r["setting"], r["metric"]) == (f"{lib}.{algo}", env_id, metric)
            ]
            for lib in ("leyden", "sb3")
        }
        if values["leyden"] and values["sb3"]:
            median = {lib: np.median(v) for lib, v in values.items()}
            ratio = float(median["leyden"] / median["sb3"])
            ratios.append(result_row(f"leyden.{algo}/sb3.{algo}", env_id, None, f"{metric}_ratio", ratio))
            print(f"{algo} {env_id} {metric}: leyden/sb3 = {ratio:.2f}", flush=True)
    return ratios


def env_only_ceiling(num_envs: int = 8, steps: int = 20_000) -> tuple[float, float]:
    from leyden_rl.envs import make_vector_env

    envs = make_vector_env("CartPole-v1", num_envs, seed=0)
    envs.reset(seed=0)
    clock = Clock()
    for _ in range(steps // num_envs):
        envs.step(envs.action_space.sample())
    wall, cpu = clock.read()
    return steps / wall, steps / cpu


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
    parser.add_argument("--algos", default="PPO,DQN", help="PPO,DQN (default) or any of TRPO,A2C")
    parser.add_argument("--budget", type=int, default=200_000, help="env-step budget of TRPO and A2C")
    parser.add_argument("--skip-sb3", action="store_true", help="Leyden's runs only (TRPO, A2C)")
    parser.add_argument(
        "--env", default="CartPole-v1", help="CartPoleNoVel-v1: velocities masked (RecurrentPPO)"
    )
    parser.add_argument(
        "--first-seed", type=int, default=0, help="TRPO, A2C, RecurrentPPO: seeds from here (tuning: >= 100)"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    algos = args.algos.split(",")
    if algos != ["PPO", "DQN"] or args.env != "CartPole-v1":
        seeds = range(args.first_seed, args.first_seed + (1 if args.quick else args.seeds))
        return run_other(algos, seeds, args.budget, args.skip_sb3, args.env, args.quick)
    ppo_seeds = 2 if args.quick else args.seeds
    dqn_seeds = 1 if args.quick else (args.dqn_seeds or args.seeds)
    main_rows = {"env_only", "leyden.PPO/sb3.PPO", "leyden.PPO/env_only"} | {
        f"{lib}.{algo}" for lib in ("leyden", "sb3") for algo in ("PPO", "DQN")
    }
    name = "rl_cartpole_quick" if args.quick else "rl_cartpole"
    rows: list[dict] = []

    def add(method, seed, metric, value):
        rows.append(result_row(method, "CartPole-v1", seed, metric, value))

    def save() -> Path:
        """Write the rows so far (after every run, so an interrupted benchmark keeps what it measured)."""
        return merge_results(
            name, rows, lambda row: row["setting"] == "CartPole-v1" and row["method"] in main_rows
        )

    ceiling = dict(zip(RATES, env_only_ceiling()))
    for metric, value in ceiling.items():
        add("env_only", None, metric, value)
    print(f"env-only ceiling (SyncVectorEnv, 8 envs, random actions): {ceiling}")

    def run(algo: str, lib: str, fn, seed: int, budget: int) -> None:
        reached, steps, wall, cpu = fn(algo, seed, budget)
        add(f"{lib}.{algo}", seed, "steps_to_475", reached)
        add(f"{lib}.{algo}", seed, "env_steps_per_s", steps / wall)
        add(f"{lib}.{algo}", seed, "env_steps_per_cpu_s", steps / cpu)
        print(f"{lib}.{algo} seed {seed}: steps_to_475={reached} env_steps/s={steps / wall:,.0f} "
              f"per CPU-s={steps / cpu:,.0f} ({steps} steps)", flush=True)  # fmt: skip
        save()

    for seed in range(ppo_seeds):
        for lib, fn in (("leyden", run_leyden), ("sb3", run_sb3)):
            run("PPO", lib, fn, seed, args.ppo_budget)
    for metric in RATES:  # medians over seeds; ratios of medians
        median = {
            m: float(
                np.median(
                    [
                        r["value"]
                        for r in rows
                        if (r["method"], r["metric"], r["setting"]) == (m, metric, "CartPole-v1")
                    ]
                )
            )
            for m in ("leyden.PPO", "sb3.PPO")
        }
        ratio, fraction = median["leyden.PPO"] / median["sb3.PPO"], median["leyden.PPO"] / ceiling[metric]
        add("leyden.PPO/sb3.PPO", None, f"{metric}_ratio", ratio)
        add("leyden.PPO/env_only", None, f"{metric}_fraction_of_ceiling", fraction)
        print(f"PPO {metric}: leyden/sb3 = {ratio:.2f}; leyden at {fraction:.1%} of the env-only ceiling")
    save()
    dqn_libs = (
        (("leyden", run_leyden),)
        if args.skip_sb3_dqn or args.quick
        else (("leyden", run_leyden), ("sb3", run_sb3))
    )
    for seed in range(dqn_seeds):
        for lib, fn in dqn_libs:
            run("DQN", lib, fn, seed, args.dqn_budget)

    save()


def run_other(
    algos: list[str],
    seeds: range,
    budget: int,
    skip_sb3: bool,
    env_id: str = "CartPole-v1",
    quick: bool = False,
) -> None:
    """TRPO, A2C and RecurrentPPO (also PPO/DQN when named): steps to 475 and env steps per (CPU-)second, per seed."""
    libs = (("leyden", run_leyden),) if skip_sb3 else (("leyden", run_leyden), ("sb3", run_sb3))
    methods = {f"{lib}.{algo}" for lib, _ in libs for algo in algos} | {f"leyden.{a}/sb3.{a}" for a in algos}
    name = "rl_cartpole_quick" if quick else "rl_cartpole"
    rows: list[dict] = []

    def rerun(row: dict) -> bool:
        return row["setting"] == env_id and row["method"] in methods

    for algo in algos:
        for seed in seeds:
            for lib, fn in libs:
                reached, steps, wall, cpu = fn(algo, seed, budget, env_id)
                for metric, value in (
                    ("steps_to_475", reached), ("env_steps_per_s", steps / wall), ("env_steps_per_cpu_s", steps / cpu),
                ):  # fmt: skip
                    rows.append(result_row(f"{lib}.{algo}", env_id, seed, metric, value))
                print(f"{lib}.{algo} seed {seed}: steps_to_475={reached} env_steps/s={steps / wall:,.0f} "
                      f"per CPU-s={steps / cpu:,.0f} ({steps} steps)", flush=True)  # fmt: skip
                merge_results(name, rows, rerun)  # after every run
        # the file's rows: this run's and, with --skip-sb3, the earlier sb3 rows it keeps
        rows += median_ratios(read_results(name)["rows"], algo, env_id)
        merge_results(name, rows, rerun)


if __name__ == "__main__":
    main()
