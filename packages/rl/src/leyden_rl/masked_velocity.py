"""Partially observed control tasks: the velocities are masked, so acting well needs memory.

``<Name>NoVel-v<k>`` (e.g. ``CartPoleNoVel-v1``) is ``<Name>-v<k>`` with its velocity entries of the
observation set to zero — rl-zoo's and sb3-contrib's benchmark for recurrent policies, same shape and
same dynamics. From the positions alone a feed-forward policy cannot tell which way the pole is falling;
a recurrent policy recovers the velocities from consecutive observations. Importing this module
registers the ids; :func:`leyden_rl.envs.make_env` does so for any id containing ``NoVel-``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np

# Observation entries that are velocities, per env (rl-zoo's MaskVelocityWrapper lists the same).
VELOCITY_INDICES: dict[str, tuple[int, ...]] = {
    "CartPole-v1": (1, 3),
    "Pendulum-v1": (2,),
    "MountainCar-v0": (1,),
    "MountainCarContinuous-v0": (1,),
    "Acrobot-v1": (4, 5),
}


class MaskVelocity(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Zero the observation entries at ``indices`` (the velocities), keeping the observation's shape."""

    def __init__(self, env: gym.Env, indices: Sequence[int]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, indices=tuple(indices))
        super().__init__(env)
        self.mask = np.ones(env.observation_space.shape, dtype=env.observation_space.dtype)
        self.mask[list(indices)] = 0

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation * self.mask


def no_velocity_id(env_id: str) -> str:
    """``CartPole-v1`` → ``CartPoleNoVel-v1``."""
    name, version = env_id.rsplit("-v", 1)
    return f"{name}NoVel-v{version}"


def make_no_velocity_env(env_id: str, **kwargs: Any) -> gym.Env:
    """``env_id`` (made with its own time limit) behind :class:`MaskVelocity`."""
    return MaskVelocity(gym.make(env_id, **kwargs), VELOCITY_INDICES[env_id])


for _id in VELOCITY_INDICES:
    if no_velocity_id(_id) not in gym.registry:
        gym.register(no_velocity_id(_id), entry_point=make_no_velocity_env, kwargs={"env_id": _id})
