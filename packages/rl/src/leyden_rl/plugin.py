"""Entry point of the rl plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin

plugin = LeydenPlugin(
    name="rl",
    models=("leyden_rl.ppo.PPO", "leyden_rl.dqn.DQN", "leyden_rl.sac.SAC", "leyden_rl.meta.rl2.RL2"),
    datamodules=(),
)
