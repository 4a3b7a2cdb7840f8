"""Run by test_meta_rl2.py: train a tiny RL² with 2-process CPU DDP; dump each rank's tasks and weights.

Usage: ``rl2_ddp_script.py OUT_DIR [OPTIONS_JSON]``, the JSON's keys (pieces as class_path dicts, the task
distribution included) replacing the model's arguments below."""

import json
import sys

import torch

from leyden_core.distributed import rank
from leyden_core.testing import quiet_trainer
from leyden_rl.meta.rl2 import RL2
from leyden_rl.meta.tasks import BernoulliBandits

torch.set_num_threads(1)
options = {
    "tasks": BernoulliBandits(num_arms=3, num_pulls=5),
    "policy": {"class_path": "leyden_rl.meta.gru.GRUPolicy", "init_args": {"hidden_size": 16}},
    "num_trials": 8,
    "num_minibatches": 2,
    "total_env_steps": 80,
}
options.update(json.loads(sys.argv[2] if len(sys.argv) > 2 else "{}"))
model = RL2(**options)
trainer = quiet_trainer(strategy="ddp", devices=2, max_epochs=1, enable_checkpointing=False)
trainer.fit(model)
trials = model.trials
# what identifies the sampled tasks: a batched family's first field (bandit means), or a maze's walls
task = next(iter(trials.task.values())) if hasattr(trials, "task") else trials.walls
torch.save(
    {
        "task": task,
        "params": [p.detach() for p in model.policy.parameters()],
        "env_steps": model.env_steps,
    },
    f"{sys.argv[1]}/rank{rank()}.pt",
)
