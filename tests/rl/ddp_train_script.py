"""Run by test_ddp.py: train tiny methods one after another with 2-process CPU DDP; dump what each rank saw.

One launch for all methods: starting and importing the two processes costs more than the training.
"""

import sys

import lightning.pytorch as pl
import torch

from leyden_core.distributed import rank
from leyden_core.plugins import import_object
from leyden_core.testing import quiet_trainer

names, out = sys.argv[1].split(","), sys.argv[2]
from test_algorithms import MODELS, TINY  # noqa: E402

torch.set_num_threads(1)


class Spy(pl.Callback):
    def __init__(self) -> None:
        self.first_obs = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.first_obs is None:
            self.first_obs = pl_module.obs.clone()


for name in names:
    model = import_object(MODELS[name])(total_env_steps=96, seed=0, **TINY[name])
    spy = Spy()
    trainer = quiet_trainer(
        strategy="ddp", devices=2, max_epochs=-1, enable_checkpointing=False, callbacks=[spy]
    )
    trainer.fit(model)
    torch.save(
        {
            "obs": spy.first_obs,
            "params": [p.detach() for p in model.parameters()],
            "env_steps": model.env_steps,
        },
        f"{out}/{name}_rank{rank() if trainer.world_size > 1 else trainer.global_rank}.pt",
    )
