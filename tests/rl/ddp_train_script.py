"""Run by test_ddp.py: train one tiny method with 2-process CPU DDP and dump what each rank saw."""

import sys

import lightning.pytorch as pl
import torch

from leyden_core.distributed import rank
from leyden_core.plugins import import_object
from leyden_core.testing import quiet_trainer

name, out = sys.argv[1], sys.argv[2]
from test_algorithms import MODELS, TINY  # noqa: E402

torch.set_num_threads(1)
model = import_object(MODELS[name])(total_env_steps=96, seed=0, **TINY[name])
first_obs = {}


class Spy(pl.Callback):
    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        first_obs.setdefault("obs", pl_module.obs.clone())


trainer = quiet_trainer(strategy="ddp", devices=2, max_epochs=-1, enable_checkpointing=False, callbacks=[Spy()],
)  # fmt: skip
trainer.fit(model)
torch.save(
    {
        "obs": first_obs["obs"],
        "params": [p.detach() for p in model.parameters()],
        "env_steps": model.env_steps,
    },
    f"{out}/rank{rank() if trainer.world_size > 1 else trainer.global_rank}.pt",
)
