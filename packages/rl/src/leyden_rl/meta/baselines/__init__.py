"""Classic exploration strategies for the RL² task distributions, vectorised over trials."""
