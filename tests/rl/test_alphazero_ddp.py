"""2-process CPU DDP: each rank plays its own self-play games; gradients are averaged, weights stay equal.

Run as a script (``python test_alphazero_ddp.py OUT``), this file is the DDP job itself.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from leyden_core.testing import run_ddp_script

TINY = dict(blocks=1, channels=8, value_hidden=8, num_games=4, num_simulations=4, batch_size=16,
            updates_per_step=2, replay_capacity=64)  # fmt: skip


@pytest.mark.slow
def test_ddp_ranks_play_their_own_games_and_share_weights(tmp_path):
    run_ddp_script(Path(__file__), str(tmp_path), timeout=400)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert not torch.equal(r0["window"], r1["window"]), "each rank must play its own games"
    assert r0["iterations"] == r1["iterations"]
    for a, b in zip(r0["weights"], r1["weights"]):
        assert torch.equal(a, b), "gradients are averaged, so the weights must match across ranks"


def _train(out: str) -> None:
    from leyden_core.distributed import rank
    from leyden_core.testing import quiet_trainer
    from leyden_rl.alphazero import AlphaZero

    torch.set_num_threads(1)
    model = AlphaZero(total_env_steps=40, seed=0, **TINY)
    quiet_trainer(strategy="ddp", devices=2, max_epochs=-1, enable_checkpointing=False).fit(model)
    weights = [p.detach() for name, p in model.state_dict().items() if "num_batches_tracked" not in name]
    size = model.window.size
    torch.save({"weights": weights, "window": model.window.values[:size], "iterations": model.iterations},
               f"{out}/rank{rank()}.pt")  # fmt: skip


if __name__ == "__main__":
    _train(sys.argv[1])
