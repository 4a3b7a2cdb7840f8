"""The one writer of ``benchmarks/results/<name>.json`` (the tidy shape of DESIGN.md).

Every benchmark script describes its machine and its command the same way, so rows from
different scripts (and different machines) can be compared by any tool without per-script parsing.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback


def result_row(method: str, setting: str | None, seed: int | None, metric: str, value: float | None) -> dict:
    """One tidy row; a non-finite or missing value becomes ``null`` ("never got there")."""
    if value is not None:
        value = float(value)
        if not math.isfinite(value):
            value = None
    return {"method": method, "setting": setting, "seed": seed, "metric": metric, "value": value}


class Clock:
    """Wall time and this process's CPU time since creation.

    On a shared machine a wall-clock rate depends on whatever else runs; for single-threaded runs,
    work per CPU-second compares the methods' own cost independently of the load.
    """

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        """(wall seconds, CPU seconds) since creation."""
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description(device: str = "cpu") -> str:
    """Cores, CPU model, load when measured, torch version and threads, and the GPU if one was used."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    text = (
        f"{os.cpu_count()}-core {platform.machine()} CPU ({cpu_model()}), load average {load:.1f} at the end, "
        f"torch {torch.__version__}, {torch.get_num_threads()} torch thread(s)"
    )
    if device.startswith("cuda") and torch.cuda.is_available():
        text += f", GPU {torch.cuda.get_device_name(torch.device(device))}"
    return text


def invoked_command() -> str:
    """The command line that ran this script, as a user would type it from the repository root."""
    script = Path(sys.argv[0])
    try:
        script = script.resolve().relative_to(Path.cwd())
    except ValueError:
        pass
    return shlex.join(["python", str(script), *sys.argv[1:]])


def write_results(
    name: str,
    rows: list[dict],
    *,
    device: str = "cpu",
    results_dir: Path | str | None = None,
    **extra: Any,
) -> Path:
    """Write ``<results_dir>/<name>.json`` (default: ``results/`` beside the running script).

    ``extra`` holds anything script-specific (a ``note``, per-setting details); it is stored beside
    the standard keys, never instead of them.
    """
    bad = [r for r in rows if set(r) != {"method", "setting", "seed", "metric", "value"}]
    if bad:
        raise ValueError(f"rows must have exactly method/setting/seed/metric/value keys; got {bad[0]}")
    counts = Counter((r["method"], r["setting"], r["seed"], r["metric"]) for r in rows)
    twice = next((key for key, n in counts.items() if n > 1), None)
    if twice is not None:  # one measurement per key, or a table would silently average or pick one
        raise ValueError(
            f"two rows measure the same method/setting/seed/metric {twice}: give them distinct settings"
        )
    out = results_path(name, results_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "command": invoked_command(),
        "machine": machine_description(device),
        "date": datetime.date.today().isoformat(),
        **extra,
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out}")
    return out


def results_path(name: str, results_dir: Path | str | None = None) -> Path:
    """``<results_dir>/<name>.json``; by default ``results/`` beside the running script."""
    directory = (
        Path(results_dir) if results_dir is not None else Path(sys.argv[0]).resolve().parent / "results"
    )
    return directory / f"{name}.json"


def read_results(name: str, results_dir: Path | str | None = None) -> dict:
    """The benchmark's results file as it is now (``{}`` before the first write).

    For a script that keeps details beside the rows (per setting or per row): read it just before
    writing and pass it to :func:`merge_results` as ``earlier``, so the kept rows and the kept details
    come from the same reading, also while other processes write the file.
    """
    path = results_path(name, results_dir)
    return json.loads(path.read_text()) if path.exists() else {}


def merge_results(
    name: str, rows: list[dict], rerun: Callable[[dict], bool], results_dir: Path | str | None = None,
    earlier: dict | None = None, **extra: Any,
) -> Path:  # fmt: skip
    """Write this run's ``rows`` into the benchmark's results file, beside the rows there that ``rerun`` does
    not select and the commands that measured them (:func:`write_results` writes the file).

    A run on part of a benchmark's settings or seeds replaces only their rows, so one results file holds
    them all. The file is read again at every write (``earlier``: the caller's :func:`read_results` of it
    just now), so runs of disjoint seeds or settings can run side by side as separate processes: each
    one's write keeps what the others wrote meanwhile.
    """
    earlier = read_results(name, results_dir) if earlier is None else earlier
    kept = [row for row in earlier.get("rows", []) if not rerun(row)]
    commands = earlier.get("commands", [earlier.get("command")]) if kept else []
    commands = list(dict.fromkeys([*commands, invoked_command()]))  # a run writing twice lists itself once
    return write_results(name, kept + rows, results_dir=results_dir, commands=commands, **extra)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work, so a wall-clock reading includes it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepTimer(Callback):
    """Wall time of a Trainer's training steps after ``warmup`` of them: from the first timed batch's start
    to the last batch's end (the device synchronised), for throughput measured side by side with a loop."""

    def __init__(self, warmup: int) -> None:
        self.warmup, self.start, self.end = warmup, None, None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.warmup:
            synchronize(pl_module.device)
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        synchronize(pl_module.device)
        self.end = time.perf_counter()

    @property
    def seconds(self) -> float:
        return self.end - self.start
