"""Entry point of the rl plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin

plugin = LeydenPlugin(
    name="rl",
    models=(
        "leyden_rl.ppo.PPO",
        "leyden_rl.dqn.DQN",
        "leyden_rl.sac.SAC",
        "leyden_rl.trpo.TRPO",
        "leyden_rl.a2c.A2C",
        "leyden_rl.recurrent_ppo.RecurrentPPO",
        "leyden_rl.td3.TD3",
        "leyden_rl.td3.DDPG",
        "leyden_rl.curl.CURL",
        "leyden_rl.meta.rl2.RL2",
        "leyden_rl.imitation.bc.BehaviourCloning",
        "leyden_rl.imitation.dagger.DAgger",
        "leyden_rl.imitation.one_shot.OneShotImitation",
        "leyden_rl.imitation.blocks.one_shot.OneShotBlockStacking",
        "leyden_rl.alphazero.AlphaZero",
    ),
    datamodules=(
        "leyden_rl.imitation.demonstrations.DemonstrationDataModule",
        "leyden_rl.imitation.one_shot.OneShotParticleDataModule",
        "leyden_rl.imitation.blocks.one_shot.OneShotBlocksDataModule",
    ),
)
