"""Multi-node DDP: two simulated nodes (``torchrun --nnodes 2``, one process each, on this machine)
end with exactly the weights of single-node 2-process DDP. This is what a SLURM or torchrun launch
over real nodes does, with the rendezvous on localhost."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.core.cli_runner import TINY, leyden

pytestmark = [pytest.mark.slow, pytest.mark.ddp]
RUN = [*TINY, "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "6", "--trainer.strategy", "ddp"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node(node_rank: int, port: int, root: Path) -> subprocess.Popen:
    """One node of two: ``torchrun`` with one process, running ``leyden fit`` (``python -m leyden_core.cli``)."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1"]
    rendezvous = ["--node_rank", str(node_rank), "--master_addr", "127.0.0.1", "--master_port", str(port)]
    command = [*torchrun, *rendezvous, "-m", "leyden_core.cli", "fit", *RUN]
    command += ["--trainer.num_nodes", "2", "--trainer.devices", "1", f"--trainer.default_root_dir={root}"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(WANDB_MODE="disabled", OMP_NUM_THREADS="1")
    return subprocess.Popen(
        command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_two_nodes_end_with_the_weights_of_one_node_with_two_processes(tmp_path: Path) -> None:
    one_node = tmp_path / "one_node"
    one_node.mkdir()
    result = leyden("fit", *RUN, "--trainer.devices", "2", cwd=one_node, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]

    two_nodes = tmp_path / "two_nodes"
    two_nodes.mkdir()
    port = _free_port()
    nodes = [_node(rank, port, two_nodes) for rank in (0, 1)]
    for node in nodes:
        _, stderr = node.communicate(timeout=600)
        assert node.returncode == 0, stderr[-3000:]

    def weights(root: Path) -> dict[str, torch.Tensor]:
        return torch.load(root / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]

    single, multi = weights(one_node), weights(two_nodes)
    assert single.keys() == multi.keys()
    for key in single:
        torch.testing.assert_close(multi[key], single[key], rtol=0, atol=0, msg=f"weights differ at {key}")
