"""2-process CPU DDP: each rank steps its own differently seeded envs; weights stay identical."""

from pathlib import Path

import pytest
import torch

from leyden_core.testing import run_ddp_script

HERE = Path(__file__).parent
METHODS = ("PPO", "DQN", "SAC")
# One launch per group (starting two processes costs more than the training); the second group adds
# ~40 s, so it runs in the slow session.
GROUPS = [
    METHODS,
    pytest.param(
        ("TRPO", "A2C", "TD3", "DDPG", "RecurrentPPO"), marks=pytest.mark.slow, id="trpo-a2c-td3-ddpg-rppo"
    ),
]


@pytest.mark.parametrize("methods", GROUPS)
def test_ddp_ranks_collect_distinct_experience_and_share_weights(methods, tmp_path):
    run_ddp_script(HERE / "ddp_train_script.py", ",".join(methods), str(tmp_path), timeout=400)
    for name in methods:
        r0, r1 = (torch.load(tmp_path / f"{name}_rank{r}.pt") for r in (0, 1))
        assert not torch.allclose(r0["obs"], r1["obs"]), f"{name}: ranks must use different env seeds"
        assert r0["env_steps"] == r1["env_steps"] == 96
        for a, b in zip(r0["params"], r1["params"]):
            assert torch.equal(a, b), f"{name}: gradients are averaged, so weights must match across ranks"
