"""Physics randomization for gymnasium environments: new physics on every reset.

Supported: CartPole (masscart, masspole, length, gravity, force_mag; total_mass and
polemass_length are recomputed), Pendulum (g, m, l), Acrobot (link_length_1/2, link_mass_1/2,
link_com_pos_1/2, link_moi), MuJoCo environments (body_mass, geom_friction, dof_damping:
whole arrays of the compiled model, scaled or shifted together) and any environment that declares
the :data:`PHYSICS_PARAMETERS` protocol: a class attribute ``physics_parameters = ("mass",
"damping")`` naming float attributes that its ``reset`` and ``step`` read, so a wrapper may set
them before ``reset`` (no import of this package is needed to declare it). Values are drawn from fixed
:class:`PhysicsRange` s or from an :class:`~leyden_sim.adr.ADR` controller; the physical values
of the episode are in ``info["physics"]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control import AcrobotEnv, CartPoleEnv, PendulumEnv

from leyden_core.errors import LeydenConfigError
from leyden_sim.adr import ADR, MODES, Boundary

CARTPOLE = ("masscart", "masspole", "length", "gravity", "force_mag")
PENDULUM = ("g", "m", "l")
ACROBOT = (
    "link_length_1",
    "link_length_2",
    "link_mass_1",
    "link_mass_2",
    "link_com_pos_1",
    "link_com_pos_2",
    "link_moi",
)
MUJOCO = ("body_mass", "geom_friction", "dof_damping")
PHYSICS_PARAMETERS = "physics_parameters"  # the generic protocol's attribute name
SCORES = ("return", "final_reward")  # what an ADR boundary episode reports


@dataclass(frozen=True)
class PhysicsRange:
    """A fixed range: ``uniform`` or ``loguniform`` in [low, high], applied as ``mode``
    (``scale``: nominal × value, ``add``: nominal + value, ``set``: value)."""

    low: float
    high: float
    distribution: str = "uniform"
    mode: str = "scale"

    def __post_init__(self) -> None:
        if self.distribution not in ("uniform", "loguniform"):
            raise LeydenConfigError(
                f"unknown distribution {self.distribution!r}", "use uniform or loguniform"
            )
        if self.mode not in MODES:
            raise LeydenConfigError(f"unknown mode {self.mode!r}", f"use one of {MODES}")
        if self.low > self.high or (self.distribution == "loguniform" and self.low <= 0):
            raise LeydenConfigError(f"bad range {self}", "need low <= high (and low > 0 for loguniform)")

    def sample(self, rng: np.random.Generator) -> float:
        if self.distribution == "loguniform":
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def apply_mode(nominal: Any, value: float, mode: str) -> Any:
    if mode == "scale":
        return nominal * value
    if mode == "add":
        return nominal + value
    return np.full_like(nominal, value) if isinstance(nominal, np.ndarray) else value


def _supported(env: gym.Env) -> tuple[str, ...]:
    base = env.unwrapped
    if hasattr(base, PHYSICS_PARAMETERS):
        return tuple(getattr(base, PHYSICS_PARAMETERS))
    if isinstance(base, CartPoleEnv):
        return CARTPOLE
    if isinstance(base, PendulumEnv):
        return PENDULUM
    if isinstance(base, AcrobotEnv):
        return ACROBOT
    if hasattr(base, "model") and hasattr(base.model, "body_mass"):  # a MuJoCo env: no mujoco import needed
        return MUJOCO
    raise LeydenConfigError(
        f"physics randomization does not know {type(base).__name__}",
        "use CartPole, Pendulum, Acrobot, a MuJoCo environment (pip install 'leyden-sim[mujoco]') or "
        "declare physics_parameters = ('mass', ...) (float attributes) on the environment class",
    )


def _get(env: gym.Env, name: str) -> Any:
    base = env.unwrapped
    if hasattr(base, PHYSICS_PARAMETERS):
        return float(getattr(base, name))
    if name in MUJOCO:
        return np.array(getattr(base.model, name))
    return float(getattr(base, name.upper() if name in ACROBOT else name))


def _set(env: gym.Env, name: str, value: Any) -> None:
    base = env.unwrapped
    if hasattr(base, PHYSICS_PARAMETERS):
        setattr(base, name, float(value))
        return
    if name in MUJOCO:
        getattr(base.model, name)[:] = value
        return
    setattr(base, name.upper() if name in ACROBOT else name, float(value))
    if isinstance(base, CartPoleEnv):  # derived quantities the dynamics read
        base.total_mass = base.masspole + base.masscart
        base.polemass_length = base.masspole * base.length


class PhysicsRandomization(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Resample physics on every ``reset`` from ``ranges`` and/or an ``adr`` controller.

    With ADR, the score of an episode whose parameter was pinned at a boundary is reported to the
    controller when the episode ends: its return (``score="return"``), or its last reward
    (``score="final_reward"``) for tasks whose reward measures progress, such as the fraction of a
    task done, where the return would mostly count how long the episode lasted. ``reset(seed=s)``
    also seeds the physics draws.
    """

    def __init__(
        self,
        env: gym.Env,
        ranges: dict[str, PhysicsRange] | None = None,
        adr: ADR | None = None,
        seed: int | None = None,
        score: str = "return",
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, ranges=ranges, adr=adr, seed=seed, score=score)
        super().__init__(env)
        if score not in SCORES:
            raise LeydenConfigError(f"unknown score {score!r}", f"use one of {SCORES}")
        self.score = score
        self.ranges = dict(ranges or {})
        self.adr = adr
        names = list(self.ranges) + (list(adr.params) if adr is not None else [])
        supported = _supported(env)
        unknown = [n for n in names if n not in supported]
        if unknown or len(set(names)) != len(names):
            raise LeydenConfigError(
                f"parameters {unknown or names} unknown or given twice for {type(env.unwrapped).__name__}",
                f"randomize each of {supported} at most once",
            )
        self.nominal = {name: _get(env, name) for name in names}
        self._rng = np.random.default_rng(seed)
        self._boundary: Boundary | None = None
        self._boundary_value: float | None = None
        self._episode_return = 0.0

    def sample(self) -> dict[str, Any]:
        """Draw and apply new physics; returns the physical values."""
        draws = {name: (r.sample(self._rng), r.mode) for name, r in self.ranges.items()}
        self._boundary = None
        if self.adr is not None:
            values, self._boundary = self.adr.sample(self._rng)
            self._boundary_value = values[self._boundary[0]] if self._boundary is not None else None
            draws |= {name: (v, self.adr.params[name].mode) for name, v in values.items()}
        physics = {}
        for name, (value, mode) in draws.items():
            physics[name] = apply_mode(self.nominal[name], value, mode)
            _set(self.env, name, physics[name])
        return physics

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[Any, dict]:
        if seed is not None:
            self._rng = np.random.default_rng([seed, 7919])  # a stream apart from the env's own
        physics = self.sample()
        self._episode_return = 0.0
        obs, info = self.env.reset(seed=seed, options=options)
        info["physics"] = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in physics.items()}
        if self._boundary is not None:
            info["adr_boundary"] = self._boundary
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._episode_return += float(reward)
        if (terminated or truncated) and self.adr is not None and self._boundary is not None:
            score = self._episode_return if self.score == "return" else float(reward)
            self.adr.record(self._boundary, score, self._boundary_value)  # drops stale scores
            self._boundary = None
        return obs, reward, terminated, truncated, info
