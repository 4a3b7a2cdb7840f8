"""One-shot imitation of block stacking in MuJoCo (Duan et al., 2017): the world, its tasks, the
scripted expert and the demonstration-conditioned policy.

``gym.make("leyden_rl.imitation.blocks:leyden/BlockStacking-v0")`` imports this package, which
registers the env (MuJoCo itself is imported only when an env is built).
"""

import gymnasium as gym

from leyden_rl.imitation.blocks.env import ENV_ID, BlockStackingEnv
from leyden_rl.imitation.blocks.expert import block_stacking_expert, expert_action
from leyden_rl.imitation.blocks.one_shot import OneShotBlocksDataModule, OneShotBlockStacking, evaluate
from leyden_rl.imitation.blocks.policy import BlockStackingPolicy
from leyden_rl.imitation.blocks.tasks import all_tasks, num_stages, parse_task, split_tasks

if ENV_ID not in gym.registry:
    gym.register(ENV_ID, entry_point="leyden_rl.imitation.blocks.env:BlockStackingEnv")

__all__ = [
    "ENV_ID", "BlockStackingEnv", "BlockStackingPolicy", "OneShotBlockStacking", "OneShotBlocksDataModule",
    "all_tasks", "block_stacking_expert", "evaluate", "expert_action", "num_stages", "parse_task", "split_tasks",
]  # fmt: skip
