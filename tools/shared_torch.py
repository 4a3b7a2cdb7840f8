"""Give a venv the one shared install of torch and torchvision: ``python3 tools/shared_torch.py VENV``.

PyPI's torch for Linux is a CUDA build of about 6 GB (the NVIDIA libraries and triton included).
The demo venv and every nox session venv need it, and a copy each filled CI's disk; so it is
installed once, into ``.torch/`` beside this repository's other venvs, and each venv sees it
through a ``.pth`` file. Its pinned versions come from ``constraints.txt``. Everything else a venv
needs is installed into the venv itself, so a plugin's missing requirement still fails its tests.

Running it again is cheap and safe: the install is skipped while ``constraints.txt`` is what it was
installed from (a copy is kept as a marker), re-run when the pins change, and a half-finished one is
simply resumed by pip. Callers retry it when the package index drops.
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TORCH_BASE = ROOT / ".torch"
INSTALLED_MARKER = TORCH_BASE / "installed-from-constraints.txt"
PTH_NAME = "_leyden_shared_torch.pth"


def site_packages(python: Path) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.check_output([str(python), "-c", code], text=True).strip()


def install_shared_torch() -> Path:
    """Install the pinned torch and torchvision into ``.torch/`` unless already done; return its python."""
    base_python = TORCH_BASE / "bin" / "python"
    constraints = ROOT / "constraints.txt"
    pins = constraints.read_text()
    if INSTALLED_MARKER.exists() and INSTALLED_MARKER.read_text() == pins:
        return base_python
    if not base_python.exists():
        venv.create(TORCH_BASE, with_pip=True)
    pip_install = [str(base_python), "-m", "pip", "install", "-q", "-c", str(constraints)]
    subprocess.run([*pip_install, "pip"], check=True)
    subprocess.run([*pip_install, "torch", "torchvision"], check=True)
    INSTALLED_MARKER.write_text(pins)
    return base_python


def share_torch(venv_dir: Path) -> None:
    """Make the shared torch importable (and visible to pip as installed) in ``venv_dir``."""
    venv_python = venv_dir / "bin" / "python"
    if not venv_python.exists():  # before the 6 GB install, not after it
        raise SystemExit(f"{venv_dir} is not a venv (no bin/python); create it first with `python3 -m venv`")
    base_python = install_shared_torch()
    Path(site_packages(venv_python), PTH_NAME).write_text(site_packages(base_python) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python3 tools/shared_torch.py VENV_DIR")
    share_torch(Path(sys.argv[1]))
