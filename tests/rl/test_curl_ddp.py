"""CURL under 2-process CPU DDP (gloo): ranks collect different pixels, weights stay identical.

The contrastive loss is per rank (each rank's batch supplies its own negatives, as on the paper's
single GPU); what DDP must guarantee is that every gradient, W's and the encoder's included, is
all-reduced so the ranks never drift apart. Run as a script, this file is one DDP rank's training.
"""

import sys
from pathlib import Path

import torch

from leyden_core.testing import run_ddp_script

TINY = dict(env_id="pixels/Pendulum-v1", env_kwargs={"size": 20}, image_size=16, learning_starts=16,
            batch_size=8, hidden_sizes=(16,), features=8, filters=4, buffer_size=100)  # fmt: skip


def test_ddp_curl_ranks_share_weights(tmp_path):
    run_ddp_script(__file__, str(tmp_path), timeout=240)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert not torch.equal(r0["frames"], r1["frames"]), "ranks must see differently seeded envs"
    assert r0["env_steps"] == r1["env_steps"] == 32 and r0["updates"] == 17
    for (name, a), (_, b) in zip(r0["params"], r1["params"]):
        assert torch.equal(a, b), f"{name} differs across ranks"
    assert any(name == "contrastive_w" for name, _ in r0["params"])


if __name__ == "__main__":
    from leyden_core.distributed import rank
    from leyden_core.testing import quiet_trainer
    from leyden_rl.curl import CURL

    torch.set_num_threads(1)
    model = CURL(total_env_steps=32, seed=0, **TINY)
    quiet_trainer(strategy="ddp", devices=2, max_epochs=-1, enable_checkpointing=False).fit(model)
    torch.save(
        {
            "frames": model.buffer.frames[:8].clone(),
            "params": [(n, p.detach()) for n, p in model.named_parameters()],
            "env_steps": model.env_steps,
            "updates": model.updates,
        },
        Path(sys.argv[1]) / f"rank{rank()}.pt",
    )
