"""Run by test_meta_rl2.py: train a tiny RL² with 2-process CPU DDP; dump each rank's tasks and weights.

Usage: ``rl2_ddp_script.py OUT_DIR [OPTIONS_JSON]``, the JSON's keys (pieces as class_path dicts) added to
the model's arguments."""

import json
import sys

import torch

from leyden_core.distributed import rank
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits

torch.set_num_threads(1)
options = {"policy": {"class_path": "leyden_rl.meta.gru.GRUPolicy", "init_args": {"hidden_size": 16}}}
options.update(json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))
model = RL2(
    BernoulliBandits(num_arms=3, num_pulls=5), num_trials=8, num_minibatches=2, total_env_steps=80, **options
)
trainer = quiet_trainer(strategy="ddp", devices=2, max_epochs=1, enable_checkpointing=False)
trainer.fit(model)
torch.save(
    {
        "arm_means": model.trials.task["means"],
        "params": [p.detach() for p in model.policy.parameters()],
        "env_steps": model.env_steps,
    },
    f"{sys.argv[1]}/rank{rank()}.pt",
)
