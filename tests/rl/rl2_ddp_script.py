"""Run by test_meta_rl2.py: train a tiny RL² with 2-process CPU DDP; dump each rank's tasks and weights.

Usage: ``rl2_ddp_script.py OUT_DIR [OPTIONS_JSON]``, the JSON's keys added to the model's arguments."""

import json
import sys

import torch

from leyden_core.distributed import rank
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.rl2 import RL2

torch.set_num_threads(1)
model = RL2(task="bandit", num_arms=3, num_pulls=5, num_trials=8, num_minibatches=2,
            total_env_steps=80, hidden_size=16, **json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))  # fmt: skip
trainer = quiet_trainer(strategy="ddp", devices=2, max_epochs=1, enable_checkpointing=False)
trainer.fit(model)
torch.save(
    {
        "arm_means": model.env.task["means"],
        "params": [p.detach() for p in model.policy.parameters()],
        "env_steps": model.env_steps,
    },
    f"{sys.argv[1]}/rank{rank()}.pt",
)
