"""Environments: gymnasium 1.x vector envs with per-env, per-rank seeds, plus Atari and MuJoCo.

Every vector env Leyden builds uses gymnasium's ``SAME_STEP`` autoreset: when an episode ends at
step t, ``step`` returns the *next* episode's first observation and puts the last observation of
the finished episode in ``info["final_obs"]`` (mask ``info["_final_obs"]``). That is what lets a
method bootstrap a time-limit truncation from the real final state, and it never produces the
dummy "reset" transitions of the default ``NEXT_STEP`` mode. Episode statistics come from
gymnasium's ``RecordEpisodeStatistics`` applied before any reward clipping, so logged returns are
the true ones.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from leyden_core.distributed import rank_seed
from leyden_core.errors import LeydenConfigError

MUJOCO_ENVS = (
    "Ant", "HalfCheetah", "Hopper", "Humanoid", "HumanoidStandup", "InvertedDoublePendulum",
    "InvertedPendulum", "Pusher", "Reacher", "Swimmer", "Walker2d",
)  # fmt: skip


def is_atari(env_id: str) -> bool:
    return env_id.startswith("ALE/") or "NoFrameskip" in env_id


def is_mujoco(env_id: str) -> bool:
    return env_id.split("-")[0] in MUJOCO_ENVS


def _require(module: str, extra: str, env_id: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LeydenConfigError(
            f"environment {env_id!r} needs the '{module}' package, which is not installed",
            f"pip install 'leyden-rl[{extra}]'",
        )


def env_seeds(seed: int, num_envs: int) -> list[int]:
    """Distinct seeds for each env of each DDP rank: ``seed + 1000 · rank + i``."""
    return [rank_seed(seed) + i for i in range(num_envs)]


def make_env(
    env_id: str,
    render_mode: str | None = None,
    frame_stack: int = 4,
    clip_rewards: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> gym.Env:
    """One environment with Leyden's standard wrappers for its family.

    ``render_mode`` is passed to the env only when set (for videos), so any registered gymnasium env
    works, including one whose constructor takes no ``render_mode``.

    Atari ("ALE/Pong-v5", "PongNoFrameskip-v4"): the DQN-paper preprocessing via gymnasium's
    ``AtariPreprocessing`` (30 no-op starts, frame skip 4 with max-pooling, 84×84 grayscale),
    ``FrameStackObservation(frame_stack)`` and, with ``clip_rewards``, sign-clipped rewards.
    """
    env_kwargs = dict(env_kwargs or {})
    if is_atari(env_id):
        _require("ale_py", "atari", env_id)
        _require("cv2", "atari", env_id)  # AtariPreprocessing resizes with OpenCV
        import ale_py

        gym.register_envs(ale_py)
        env_kwargs.setdefault("frameskip", 1)  # AtariPreprocessing skips frames itself
    elif is_mujoco(env_id):
        _require("mujoco", "mujoco", env_id)
    elif env_id.startswith("dmc/"):
        _require("dm_control", "dmc", env_id)
        import leyden_rl.dmc  # noqa: F401  (registers the dmc/<domain>-<task> ids)
    elif env_id.startswith("pixels/"):
        import leyden_rl.pixels  # noqa: F401  (registers the pixels/<id> ids)
    elif "NoVel-" in env_id:
        import leyden_rl.masked_velocity  # noqa: F401  (registers the <name>NoVel-v<k> ids)
    if render_mode is not None:  # a plain gymnasium env need not take render_mode at all
        env_kwargs["render_mode"] = render_mode
    try:
        env = gym.make(env_id, **env_kwargs)
    except gym.error.Error as err:
        raise LeydenConfigError(
            f"gymnasium cannot make environment {env_id!r}: {err}",
            "use a registered id such as 'CartPole-v1', 'Pendulum-v1', 'ALE/Pong-v5' or 'HalfCheetah-v5'",
        ) from err
    env = gym.wrappers.RecordEpisodeStatistics(env)
    if is_atari(env_id):
        env = gym.wrappers.AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84)
        env = gym.wrappers.FrameStackObservation(env, frame_stack)
        if clip_rewards:
            env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    return env


def make_vector_env(
    env_id: str,
    num_envs: int,
    seed: int,
    vectorization: str = "sync",
    render_mode: str | None = None,
    clip_rewards: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> VectorEnv:
    """``num_envs`` copies of ``env_id`` stepped together, reset once with :func:`env_seeds`.

    ``vectorization="sync"`` steps them in this process (best for cheap envs like CartPole);
    ``"async"`` runs one subprocess per env (for Atari, MuJoCo and other heavy simulators).
    """
    if vectorization not in ("sync", "async"):
        raise LeydenConfigError(f"unknown vectorization {vectorization!r}", "use 'sync' or 'async'")
    thunk: Callable[[], gym.Env] = lambda: make_env(  # noqa: E731
        env_id, render_mode=render_mode, clip_rewards=clip_rewards, env_kwargs=env_kwargs
    )
    make_env(env_id, env_kwargs=env_kwargs).close()  # fail here, in this process, on a bad id/extra
    cls = gym.vector.SyncVectorEnv if vectorization == "sync" else gym.vector.AsyncVectorEnv
    envs = cls([thunk] * num_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    envs.action_space.seed(rank_seed(seed))
    return envs


def check_render(envs: VectorEnv, env_id: str) -> None:
    """Raise a clear error when videos are asked for but the env cannot render RGB frames."""
    modes = envs.metadata.get("render_modes", [])
    if envs.render_mode != "rgb_array" and "rgb_array" not in modes:
        raise LeydenConfigError(
            f"environment {env_id!r} cannot render rgb_array frames, so no episode video can be recorded",
            "set the evaluation callback's video_every_n=0, or use an env with render_mode='rgb_array'",
        )


def episode_returns(
    env: gym.Env, act: Callable[[np.ndarray], np.ndarray], num_episodes: int, seed: int
) -> list[float]:
    """Returns of ``num_episodes`` complete episodes of one env, episode ``i`` reset with ``seed + i``.

    ``act`` maps one observation to one action, so any policy (a Leyden module, an SB3 model, a
    scripted expert) is evaluated on the same episodes.
    """
    returns = []
    for episode in range(num_episodes):
        obs, _ = env.reset(seed=seed + episode)
        done, total = False, 0.0
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns
