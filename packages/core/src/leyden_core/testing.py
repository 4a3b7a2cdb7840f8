"""Helpers for tests of multi-process behaviour: run a function in N gloo processes on the CPU."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from typing import Any

import torch.distributed as dist
import torch.multiprocessing as mp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable, args: tuple, result_dir: str) -> None:
    import torch

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        result = fn(rank, world_size, *args)
        torch.save(result, os.path.join(result_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def run_distributed(fn: Callable[..., Any], world_size: int = 2, *args: Any) -> list[Any]:
    """Run ``fn(rank, world_size, *args)`` in ``world_size`` processes joined by a gloo group.

    ``fn`` must be importable (a module-level function). Returns each rank's return value, in rank
    order (values go through ``torch.save``, so tensors and plain containers work).
    """
    import torch

    with tempfile.TemporaryDirectory() as result_dir:
        mp.start_processes(
            _worker,
            args=(world_size, _free_port(), fn, args, result_dir),
            nprocs=world_size,
            join=True,
            start_method="spawn",
        )
        return [
            torch.load(os.path.join(result_dir, f"rank{r}.pt"), weights_only=False) for r in range(world_size)
        ]


def quiet_trainer(**kwargs: Any):
    """A CPU ``Trainer`` without logger, progress bar or model summary: the BoringModel-style
    fixture every plugin's tests build. Keyword arguments are passed on (and may override)."""
    import lightning.pytorch as pl

    defaults = {
        "accelerator": "cpu",
        "logger": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }
    return pl.Trainer(**{**defaults, **kwargs})


def run_ddp_script(script: str | os.PathLike, *args: str, timeout: float = 300) -> None:
    """Run ``python script *args`` as a separate process that launches its own DDP ranks.

    Lightning's ``strategy="ddp"`` re-executes the calling script for every rank, which a pytest
    process cannot host; so DDP tests write a small script, run it here, and read what each rank
    saved. One torch thread per rank, W&B off; the script's folder is importable by every rank.
    Raises ``AssertionError`` with the tail of stderr if the script fails.
    """
    folder = os.path.dirname(os.path.abspath(script))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([folder, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "disabled",
    }
    proc = subprocess.run(
        [sys.executable, str(script), *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
