"""Run the installed ``leyden`` console script as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Imported here, at collection, so Lightning's log handlers bind to the session's stderr and not to
# one test's captured stream (which is closed when that test ends).
import lightning.pytorch  # noqa: F401

LEYDEN = str(Path(sys.executable).parent / "leyden")
TINY = [
    "--model",
    "ImageClassifier",
    "--model.backbone",
    "leyden_tiny_cnn",
    "--data",
    "DigitsDataModule",
    "--data.image_size",
    "8",
    "--trainer.accelerator",
    "cpu",
    "--trainer.enable_progress_bar",
    "false",
]


def leyden(*args: str, cwd: Path, wandb_mode: str | None = "disabled", timeout: float = 300, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["WANDB_SILENT"] = "true"
    env["OMP_NUM_THREADS"] = "1"
    if wandb_mode:
        env["WANDB_MODE"] = wandb_mode
    env.update(extra_env or {})
    return subprocess.run([LEYDEN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def leyden_in_process(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """Run ``leyden ARGS`` through the console script's own ``main`` in this process (fast: no new
    interpreter); returns the exit code and stderr. Run it from a temporary directory."""
    import pytest

    from leyden_core.cli import main

    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(sys, "argv", ["leyden", *args])  # as the console script is called
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def leyden_completed(args: list[str], cwd: Path, monkeypatch, capsys) -> subprocess.CompletedProcess:
    """``leyden ARGS`` through ``main`` in this process, from ``cwd``, whether it exits or returns (W&B off);
    an unexpected exception escapes to pytest, so its traceback fails the test."""
    from leyden_core.cli import main

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setattr(sys, "argv", ["leyden"])  # the args go to main()
    capsys.readouterr()
    try:
        main(args)
        code = 0
    except SystemExit as exit:
        code = exit.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(args, code, out, err)


def assert_two_line_error(code: int, stderr: str, *needles: str) -> None:
    """Exit code 2 and a short stderr ending in ``leyden: error: ...`` / ``  fix: ...``, naming ``needles``."""
    lines = stderr.strip().splitlines()
    assert code == 2, stderr[-3000:]
    assert "Traceback" not in stderr and "Namespace(" not in stderr, stderr[-3000:]
    assert 2 <= len(lines) <= 4, stderr[-3000:]
    assert lines[-2].startswith("leyden: error: ") and lines[-1].startswith("  fix: "), stderr
    for needle in needles:
        assert needle in stderr, f"{needle!r} not in:\n{stderr}"
