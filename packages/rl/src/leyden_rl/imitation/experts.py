"""Experts for imitation: scripted controllers and a trained Leyden checkpoint, all ``expert(obs, env)``.

Every expert answers one observation with one action and may read the env (scripted experts use
privileged state the observation hides). :func:`make_expert` builds one by name, which is how
YAML configs (``DAgger(expert="checkpoint", expert_kwargs={...})``) choose it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import import_object
from leyden_rl.imitation.blocks.expert import block_stacking_expert
from leyden_rl.imitation.demonstrations import Policy
from leyden_rl.imitation.particle_reaching import expert_actions


def cartpole_expert(obs: np.ndarray, env: gym.Env) -> int:
    """Push towards where the pole is falling: angle + 0.5·angular velocity (500/500 on CartPole-v1)."""
    return int(obs[2] + 0.5 * obs[3] > 0)


def particle_reaching_expert(obs: np.ndarray, env: gym.Env) -> np.ndarray:
    """The PD controller towards the (hidden) target landmark of :mod:`~leyden_rl.imitation.particle_reaching`."""
    return expert_actions(env.unwrapped.state)[0]


class CheckpointExpert:
    """A trained Leyden policy as an expert: ``model`` (short name like "PPO" or an import path) is
    loaded from ``checkpoint`` (e.g. ``<default_root_dir>/checkpoints/last.ckpt`` of ``leyden fit``)
    and acts deterministically through its ``act`` method."""

    def __init__(self, checkpoint: str, model: str = "PPO") -> None:
        if not Path(checkpoint).is_file():
            raise LeydenConfigError(
                f"expert checkpoint {checkpoint!r} does not exist",
                "train one first, e.g. leyden fit --config examples/rl/ppo_cartpole.yaml, and pass its last.ckpt",
            )
        cls = import_object(model if "." in model else f"leyden_rl.{model.lower()}.{model}")
        self.module = cls.load_from_checkpoint(checkpoint, map_location="cpu", weights_only=True)
        self.module.eval()

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, env: gym.Env) -> Any:
        action = self.module.act(self.module.to_tensor(obs[None]), deterministic=True)[0].cpu().numpy()
        return action.item() if action.ndim == 0 else action


EXPERTS = {
    "cartpole": cartpole_expert,
    "particle_reaching": particle_reaching_expert,
    "blocks": block_stacking_expert,
    "checkpoint": CheckpointExpert,
}


def make_expert(name: str, **kwargs: Any) -> Policy:
    """The expert called ``name`` (:data:`EXPERTS`); classes get ``kwargs`` (``checkpoint``, ``model``)."""
    if name not in EXPERTS:
        raise LeydenConfigError(f"unknown expert {name!r}", f"use one of {sorted(EXPERTS)}")
    expert = EXPERTS[name]
    return expert(**kwargs) if isinstance(expert, type) else expert
