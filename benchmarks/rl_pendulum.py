"""SAC, TD3, DDPG, TRPO and A2C on Pendulum-v1: Leyden vs Stable-Baselines3 side by side (rl-zoo hyperparameters,
1 torch thread).

Per seed: env steps until the mean return of the last 10 training episodes reaches −200 (null if
never within the budget; training stops there, as in rl_cartpole.py), the deterministic evaluation
return (10 episodes) of the policy at that point, and env steps per wall- and per CPU-second
(training included; the CPU rate does not depend on what else shares the machine).

    python benchmarks/rl_pendulum.py --quick        # 1 seed, 8k steps
    python benchmarks/rl_pendulum.py --seeds 5      # the full benchmark, 20k steps
    python benchmarks/rl_pendulum.py --algos TD3,DDPG --seeds 5   # replaces only the TD3 and DDPG rows

Every run writes results/rl_pendulum.json (``--quick``: rl_pendulum_quick.json): the rows of the methods
it ran replace theirs, the other methods' rows and the commands that measured them are kept.

TD3's, DDPG's, TRPO's and A2C's settings are rl-zoo's, read from examples/rl/td3_pendulum.yaml,
ddpg_pendulum.yaml, trpo_pendulum.yaml and a2c_pendulum.yaml (A2C needs a longer budget: ``--budget 1000000``).
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("WANDB_MODE", "disabled")
import gymnasium as gym  # noqa: E402
import lightning.pytorch as pl  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from rl_cartpole import recipe, sb3_a2c, sb3_trpo  # noqa: E402

from leyden_core.benchmarking import Clock, merge_results, result_row  # noqa: E402
from leyden_rl.envs import episode_returns  # noqa: E402

THRESHOLD, WINDOW = -200.0, 10
SAC_ZOO = dict(learning_rate=1e-3, batch_size=256, learning_starts=100, gamma=0.99, tau=0.005,
               train_freq=1, gradient_steps=1, hidden_sizes=(256, 256))  # fmt: skip


HP = {"SAC": SAC_ZOO, "TD3": recipe("td3_pendulum.yaml"), "DDPG": recipe("ddpg_pendulum.yaml"),
      "TRPO": recipe("trpo_pendulum.yaml"), "A2C": recipe("a2c_pendulum.yaml")}  # fmt: skip


def steps_to_threshold(log: list[tuple[int, float]]) -> int | None:
    for i in range(WINDOW - 1, len(log)):
        if np.mean([r for _, r in log[i - WINDOW + 1 : i + 1]]) >= THRESHOLD:
            return int(log[i][0])
    return None


def last_mean(log: list[tuple[int, float]]) -> float:
    return float(np.mean([r for _, r in log[-WINDOW:]])) if log else float("nan")


def evaluate(act, env_id: str, episodes: int = 10, seed: int = 10_000) -> float:
    return float(np.mean(episode_returns(gym.make(env_id), act, episodes, seed)))


class Curve:
    """Deterministic evaluation returns (3 episodes) every ``every`` env steps from ``start`` on, for
    either library; the time they take is kept apart, so the training rates exclude it."""

    def __init__(self, env_id: str, every: int = 0, start: int = 0) -> None:
        self.env_id, self.every, self.start = env_id, every, start
        self.returns: dict[int, float] = {}
        self.wall = self.cpu = 0.0

    def __call__(self, env_steps: int, act) -> None:
        due = self.every and env_steps >= self.start and env_steps % self.every == 0
        if due and env_steps not in self.returns:
            clock = Clock()
            self.returns[env_steps] = evaluate(act, self.env_id, episodes=3, seed=20_000)
            wall, cpu = clock.read()
            self.wall, self.cpu = self.wall + wall, self.cpu + cpu


class StopAtThreshold(pl.Callback):
    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if steps_to_threshold([(s, r) for s, r, _ in pl_module.episode_log[-WINDOW:]]) is not None:
            trainer.should_stop = True


def run_leyden(
    algo: str, seed: int, budget: int, env_id: str = "Pendulum-v1", hp: dict | None = None, stop: bool = True,
    curve: Curve | None = None,
) -> tuple[int | None, float, float, float, float]:  # fmt: skip
    """Train Leyden's ``algo`` for ``budget`` env steps (``stop``: until the threshold is reached);
    ``curve`` evaluates the policy along the way.

    Returns (steps to the threshold or None, deterministic evaluation return, env steps per wall-second,
    env steps per CPU-second, mean return of the last ``WINDOW`` training episodes).
    """
    from leyden_rl.a2c import A2C
    from leyden_rl.sac import SAC
    from leyden_rl.td3 import DDPG, TD3
    from leyden_rl.trpo import TRPO

    pl.seed_everything(seed, verbose=False)
    cls = {"SAC": SAC, "TD3": TD3, "DDPG": DDPG, "TRPO": TRPO, "A2C": A2C}[algo]
    model = cls(env_id=env_id, total_env_steps=budget, seed=seed, **(hp or HP[algo]))
    curve = curve or Curve(env_id)

    def act(obs: np.ndarray) -> np.ndarray:
        return model.act(torch.as_tensor(obs)[None]).numpy()[0]

    class Evaluate(pl.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            curve(pl_module.env_steps, act)

    trainer = pl.Trainer(max_epochs=-1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[Evaluate(), *([StopAtThreshold()] if stop else [])])  # fmt: skip
    clock = Clock()
    trainer.fit(model)
    wall, cpu = clock.read()
    wall, cpu = wall - curve.wall, cpu - curve.cpu
    final = evaluate(act, env_id)
    log = [(s, r) for s, r, _ in model.episode_log]
    return steps_to_threshold(log), final, model.env_steps / wall, model.env_steps / cpu, last_mean(log)


def sb3_off_policy(algo: str, env_id: str, hp: dict, seed: int):
    """SB3's SAC, TD3 or DDPG with the settings ``hp`` (a Leyden recipe's names)."""
    from stable_baselines3 import DDPG, SAC, TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    env = make_vec_env(env_id, n_envs=1, seed=seed)
    common = dict(learning_rate=hp["learning_rate"], batch_size=hp["batch_size"], learning_starts=hp["learning_starts"],
                  gamma=hp["gamma"], tau=hp["tau"], train_freq=1, gradient_steps=1, seed=seed, device="cpu")  # fmt: skip
    if algo == "SAC":
        return SAC("MlpPolicy", env, **common)
    # both add exploration noise in units of the action half-range (SB3: to the action in [-1, 1])
    dims = env.action_space.shape[0]
    noise = NormalActionNoise(np.zeros(dims), hp["exploration_noise"] * np.ones(dims))
    return {"TD3": TD3, "DDPG": DDPG}[algo](
        "MlpPolicy", env, buffer_size=hp["buffer_size"], action_noise=noise,
        policy_kwargs=dict(net_arch=list(hp["hidden_sizes"])), **common,
    )  # fmt: skip


def run_sb3(
    algo: str, seed: int, budget: int, env_id: str = "Pendulum-v1", hp: dict | None = None, stop: bool = True,
    curve: Curve | None = None,
) -> tuple[int | None, float, float, float, float]:  # fmt: skip
    """SB3's ``algo`` with the same settings; takes and returns what :func:`run_leyden` does."""
    from stable_baselines3.common.callbacks import BaseCallback

    log: list[tuple[int, float]] = []

    class Record(BaseCallback):
        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    log.append((self.num_timesteps, float(info["episode"]["r"])))
            curve(self.num_timesteps, act)
            return not stop or steps_to_threshold(log[-WINDOW:]) is None

    hp = hp or HP[algo]
    if algo in ("TRPO", "A2C"):
        model = (sb3_trpo if algo == "TRPO" else sb3_a2c)(env_id, hp, seed)
    else:
        model = sb3_off_policy(algo, env_id, hp, seed)
    curve = curve or Curve(env_id)
    normalizer = model.get_vec_normalize_env()  # the policy acts on normalized observations
    scale = (lambda o: o) if normalizer is None else normalizer.normalize_obs

    def act(obs: np.ndarray) -> np.ndarray:
        return model.predict(scale(obs), deterministic=True)[0]

    clock = Clock()
    model.learn(budget, callback=Record())
    wall, cpu = clock.read()
    wall, cpu = wall - curve.wall, cpu - curve.cpu
    final = evaluate(act, env_id)
    return (
        steps_to_threshold(log),
        final,
        model.num_timesteps / wall,
        model.num_timesteps / cpu,
        last_mean(log),
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, 8k steps")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=int, default=20_000)
    parser.add_argument("--skip-sb3", action="store_true")
    parser.add_argument("--algos", default="SAC", help="any of SAC,TD3,DDPG,TRPO,A2C")
    args = parser.parse_args()
    algos = args.algos.split(",")
    name = "rl_pendulum_quick" if args.quick else "rl_pendulum"
    torch.set_num_threads(1)
    seeds, budget = (1, 8_000) if args.quick else (args.seeds, args.budget)
    rerun = {f"{lib}.{algo}" for lib in ("leyden", "sb3") for algo in algos}
    rows: list[dict] = []
    libs = (("leyden", run_leyden),) if args.skip_sb3 else (("leyden", run_leyden), ("sb3", run_sb3))
    for algo, seed in ((a, s) for a in algos for s in range(seeds)):
        for lib, fn in libs:
            reached, final, sps, per_cpu_s, _ = fn(algo, seed, budget)
            for metric, value in (
                ("steps_to_-200", reached),
                ("final_eval_return", final),
                ("env_steps_per_s", sps),
                ("env_steps_per_cpu_s", per_cpu_s),
            ):
                rows.append(result_row(f"{lib}.{algo}", f"Pendulum-v1/{budget}", seed, metric, value))
            print(
                f"{lib}.{algo} seed {seed}: steps_to_-200={reached} final_eval={final:.1f} env_steps/s={sps:.0f} "
                f"per CPU-s={per_cpu_s:.0f}",
                flush=True,
            )
            merge_results(name, rows, lambda row: row["method"] in rerun)  # after every run


if __name__ == "__main__":
    main()
