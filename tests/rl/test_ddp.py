"""2-process CPU DDP: each rank steps its own differently seeded envs; weights stay identical."""

from pathlib import Path

import torch

from leyden_core.testing import run_ddp_script

HERE = Path(__file__).parent
METHODS = ("PPO", "DQN", "SAC")


def test_ddp_ranks_collect_distinct_experience_and_share_weights(tmp_path):
    run_ddp_script(HERE / "ddp_train_script.py", ",".join(METHODS), str(tmp_path), timeout=400)
    for name in METHODS:
        r0, r1 = (torch.load(tmp_path / f"{name}_rank{r}.pt") for r in (0, 1))
        assert not torch.allclose(r0["obs"], r1["obs"]), f"{name}: ranks must use different env seeds"
        assert r0["env_steps"] == r1["env_steps"] == 96
        for a, b in zip(r0["params"], r1["params"]):
            assert torch.equal(a, b), f"{name}: gradients are averaged, so weights must match across ranks"
