"""Meta-reinforcement learning: RL², its task families, policies and auxiliary losses, and the classic
bandit / tabular-MDP baselines it is compared with.

The pieces are imported here so that a config can name them by short name (``--model.tasks GymTasks``,
``--model.policy ArmMemoryPolicy``) once the CLI has imported :class:`~leyden_rl.meta.rl2.RL2`.
"""

from leyden_rl.meta import arm_memory, auxiliary, gru, gym_tasks, maze, tasks  # noqa: F401
