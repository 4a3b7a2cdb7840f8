"""One session per plugin, each in its own venv with only that plugin and core installed.

    nox -l                       # list sessions
    nox -s core selfsup rl sim   # prove every plugin installs and passes its tests alone
    nox -s lint                  # ruff (pytorch_lightning imports are banned)
    nox -s all                   # every plugin together
    nox -s slow                  # every plugin with extras: the slow (DDP, multi-node) and cross-plugin tests
    nox -s docs                  # the documentation site (mkdocs build --strict)

torch and torchvision (about 6 GB) are installed once into ``.torch/`` and shared by the sessions
(and the demo venv) through a ``.pth`` file (``tools/shared_torch.py``); everything else is
installed per session from the plugin's own declared dependencies, so a missing requirement fails
its session.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nox

ROOT = Path(__file__).parent
CONSTRAINTS = str(ROOT / "constraints.txt")
PLUGINS = ("selfsup", "rl", "sim")
EXTRAS = {
    "rl": "test,atari,dmc,mujoco,video,games",
    "core": "test,video",
    "selfsup": "test,text",
    "sim": "test,mujoco",
}

INSTALL_ATTEMPTS = 3
RETRY_PAUSE_S = 30

nox.options.sessions = ["lint", "core", *PLUGINS]
nox.options.reuse_existing_virtualenvs = True


def _with_retries(session: nox.Session, install: Callable[..., Any], *args: str, **kwargs: Any) -> None:
    """Run a pip install, trying again after a pause if it fails.

    CI's link to the package index drops large downloads now and then (a 20 MB wheel cut at the
    same byte six times in a row); pip's own resume retries come back within seconds, so a later
    attempt is what gets through. A real resolution error fails every attempt the same way.
    """
    for attempt in range(1, INSTALL_ATTEMPTS + 1):
        try:
            install(*args, **kwargs)
            return
        except nox.command.CommandFailed:
            if attempt == INSTALL_ATTEMPTS:
                raise
            session.warn(
                f"install failed (attempt {attempt} of {INSTALL_ATTEMPTS}); retrying in {RETRY_PAUSE_S} s"
            )
            time.sleep(RETRY_PAUSE_S)


def _share_torch(session: nox.Session) -> None:
    """Make the one shared torch install (``tools/shared_torch.py``) visible to this session's venv."""
    script = str(ROOT / "tools" / "shared_torch.py")
    _with_retries(session, session.run, sys.executable, script, session.virtualenv.location, external=True)


def _install(session: nox.Session, *names: str) -> None:
    _share_torch(session)
    args = []
    for name in names:
        args += ["-e", f"packages/{name}[{EXTRAS[name]}]"]
    _with_retries(session, session.install, "-q", "-c", CONSTRAINTS, *args)


def _pytest(session: nox.Session, *paths: str) -> None:
    session.run("python", "-m", "pytest", *paths, *session.posargs, env={"WANDB_MODE": "offline"})


@nox.session
def lint(session: nox.Session) -> None:
    _with_retries(session, session.install, "-q", "-c", CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")


@nox.session
def core(session: nox.Session) -> None:
    _install(session, "core")
    _pytest(session, "tests/core")


@nox.session
def selfsup(session: nox.Session) -> None:
    _install(session, "core", "selfsup")
    _pytest(session, "tests/selfsup")


@nox.session
def rl(session: nox.Session) -> None:
    _install(session, "core", "rl")
    _pytest(session, "tests/rl")


@nox.session
def sim(session: nox.Session) -> None:
    _install(session, "core", "sim")
    _pytest(session, "tests/sim")


@nox.session(name="all")
def all_plugins(session: nox.Session) -> None:
    _install(session, "core", *PLUGINS)
    _pytest(session, "tests")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with ``--strict``: a broken internal link or anchor fails it.

    The four plugins are installed (without extras) so the API reference documents the code that
    installs; the benchmark tables must be current (``benchmarks/render.py --check``). The build
    fetches nothing: no web fonts, no social cards.
    """
    _share_torch(session)
    plugins = [arg for name in ("core", *PLUGINS) for arg in ("-e", f"packages/{name}")]
    tools = ("mkdocs-material", "mkdocstrings-python", "ruff")  # ruff formats the API signatures
    _with_retries(session, session.install, "-q", "-c", CONSTRAINTS, *plugins, *tools)
    session.run("python", "benchmarks/render.py", "--check")
    site = str(Path(session.create_tmp()) / "site")
    session.run("mkdocs", "build", "--strict", "--site-dir", site, env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def slow(session: nox.Session) -> None:
    """What the per-plugin sessions leave out: ``-m slow`` (2-process DDP through the CLI, two simulated
    nodes with torchrun) and the tests that need two plugins side by side (rl's one-shot imitation
    driven by leyden-sim's physics randomization, the block world under it and under ADR), with every plugin and extra installed."""
    _install(session, "core", *PLUGINS)
    _pytest(session, "tests", "-m", "slow")
    cross_plugin = (
        "tests/rl/test_imitation_one_shot.py",
        "tests/rl/test_blocks_env.py::test_physics_parameters_reach_the_model",
        "tests/rl/test_blocks_policy.py::test_learner_episodes_in_adr_physics_score_the_final_fraction_of_stages",
    )
    _pytest(session, *cross_plugin, "-rs")
