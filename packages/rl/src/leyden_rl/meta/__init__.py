"""Meta-reinforcement learning: RL² and the classic bandit / tabular-MDP baselines it is compared with."""
