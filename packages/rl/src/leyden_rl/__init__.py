"""Leyden rl: reinforcement learning as ordinary LightningModules (one Trainer, CLI, DDP, W&B).

Start from an algorithm — :class:`PPO` (discrete or continuous actions), :class:`RecurrentPPO`
(partially observed tasks), :class:`DQN` (discrete), :class:`SAC` (continuous), :class:`CURL` (SAC from
pixels), :class:`RL2` (meta-RL), :class:`AlphaZero` (self-play on board games) — or imitation:
:class:`BehaviourCloning`, :class:`DAgger`, :class:`OneShotImitation`, :class:`OneShotBlockStacking`
(MuJoCo block stacking from one demonstration). Each online method takes a gymnasium id
(``env_id``; your own env once ``gymnasium.register``-ed) and makes its own data, so no DataModule
is needed; :class:`EvaluationCallback` adds greedy evaluation episodes (and optional videos).

    import lightning.pytorch as pl
    from leyden_rl import PPO

    pl.Trainer(max_epochs=-1, logger=False).fit(PPO("CartPole-v1", total_env_steps=20_000))

A new online method subclasses :class:`OnlineRLModule`; :func:`make_vector_env` builds its envs.
RL² trains on any :class:`TaskDistribution`: the built-in :class:`BernoulliBandits`,
:class:`RandomTabularMDPs` and :class:`RandomMazes` (first-person pixels), or your own gymnasium env
family through :class:`GymTasks` (``make_env(task)`` and a task sampler).
"""

from leyden_core.lazy import exports_of, lazy_exports
from leyden_rl.plugin import plugin

__version__ = "0.1.0"

_EXPORTS = {
    **exports_of(*plugin.models, *plugin.datamodules),  # every method and DataModule of the CLI
    "OnlineRLModule": "leyden_rl.base",
    "EvaluationCallback": "leyden_rl.callbacks",
    "make_env": "leyden_rl.envs",
    "make_vector_env": "leyden_rl.envs",
    # RL²'s pieces, named by class_path in a config: task families, recurrent policies, auxiliary losses
    "TaskDistribution": "leyden_rl.meta.task_distribution",
    "BernoulliBandits": "leyden_rl.meta.tasks",
    "RandomTabularMDPs": "leyden_rl.meta.tasks",
    "RandomMazes": "leyden_rl.meta.maze",
    "GymTasks": "leyden_rl.meta.gym_tasks",
    "GRUPolicy": "leyden_rl.meta.gru",
    "TabularGRUPolicy": "leyden_rl.meta.gru",
    "CNNGRUPolicy": "leyden_rl.meta.gru",
    "ArmMemoryPolicy": "leyden_rl.meta.arm_memory",
    "TaskInference": "leyden_rl.meta.auxiliary",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
