"""Run by test_imitation_bc.py: DAgger, BC and one-shot imitation under 2-process CPU DDP; dump each rank's weights."""

import os
import sys

import torch

from leyden_core.testing import quiet_trainer
from leyden_rl.imitation.bc import BehaviourCloning
from leyden_rl.imitation.dagger import DAgger
from leyden_rl.imitation.demonstrations import DemonstrationDataModule, record_demonstrations
from leyden_rl.imitation.experts import cartpole_expert
from leyden_rl.imitation.one_shot import OneShotImitation, OneShotParticleDataModule

out = sys.argv[1]
torch.set_num_threads(1)
path = f"{out}/demos.npz"
if "LOCAL_RANK" not in os.environ:  # the launching process (rank 0) records before DDP starts rank 1
    record_demonstrations(cartpole_expert, "CartPole-v1", 4, path)


def fit(name, model, datamodule=None, **kw):
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    trainer = quiet_trainer(strategy="ddp", devices=2, enable_checkpointing=False, **kw)
    trainer.fit(model, datamodule)
    params = [p.detach() for p in model.parameters() if p.requires_grad]
    extra = (
        {"data_obs": model.data_obs, "round1_rows": len(model.data_obs) - 1000} if name == "dagger" else {}
    )
    torch.save(
        {"params": params, "changed": any(not torch.equal(a, b) for a, b in zip(before, params)), **extra},
        f"{out}/{name}_rank{trainer.global_rank}.pt",
    )


torch.manual_seed(0)
fit(
    "dagger",
    DAgger(rounds=2, episodes_per_round=1, updates_per_round=10, beta0=1.0, beta_decay=0.0),
    max_epochs=-1,
)
# BC on the recorded file: Lightning gives each rank its half of the rows (DistributedSampler)
fit("bc", BehaviourCloning(eval_episodes=0), DemonstrationDataModule(path, batch_size=64), max_epochs=1)
tasks = OneShotParticleDataModule(num_train_tasks=32, num_val_tasks=8, landmarks=(2,), batch_size=8)
fit("one_shot", OneShotImitation("demo", width=16), tasks, max_epochs=1)
