"""Lightning glue for ADR: its ranges go into the checkpoint and to the logger (W&B) over time."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from leyden_sim.adr import ADR


class ADRCallback(pl.Callback):
    """Logs ``adr.metrics()`` every ``log_every_n_steps`` training steps and checkpoints the ADR
    state with the run, so a resumed run (``ckpt_path="last"``) continues with the same ranges.

    Give it the same :class:`ADR` object the environments' :class:`PhysicsRandomization` use.
    """

    def __init__(self, adr: ADR, log_every_n_steps: int = 1) -> None:
        self.adr = adr
        self.log_every_n_steps = log_every_n_steps

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, *args: Any) -> None:
        if trainer.global_step % self.log_every_n_steps == 0:
            pl_module.log_dict(self.adr.metrics(), on_step=True, on_epoch=False)

    def state_dict(self) -> dict[str, Any]:
        return self.adr.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.adr.load_state_dict(state_dict)
