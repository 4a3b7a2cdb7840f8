"""Example configs ship inside the packages and run by name; ``leyden --help`` lists every subcommand."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from leyden_core.cli import SUBCOMMANDS, main
from leyden_core.errors import LeydenConfigError
from leyden_core.examples import describe, resolve_config, resolve_config_args, shipped_examples
from tests.core.cli_runner import leyden

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_every_subcommand(capsys) -> None:
    main(["--help"])
    out = capsys.readouterr().out
    for name in ("fit", "validate", "test", "predict", "plugins", "examples", "export"):
        assert f"  {name} " in out and name in SUBCOMMANDS


def test_core_ships_the_repository_examples_as_the_same_files() -> None:
    shipped = {e.name: e.path for e in shipped_examples("leyden_core")}
    in_repo = {p.stem: p for p in (REPO / "examples" / "core").glob("*.yaml")}
    assert shipped.keys() == in_repo.keys() and shipped
    for name, path in shipped.items():
        assert path.read_bytes() == in_repo[name].read_bytes()


def test_a_name_resolves_to_the_shipped_file_and_paths_pass_through(tmp_path) -> None:
    path = resolve_config("classifier_digits")
    assert Path(path).name == "classifier_digits.yaml" and Path(path).is_file()
    assert resolve_config("core/classifier_digits.yaml") == path
    own = tmp_path / "mine.yaml"
    own.write_text("trainer: {}\n")
    assert resolve_config(str(own)) == str(own)
    assert resolve_config_args(["fit", "--config=classifier_digits", "--x", "1"]) == [
        "fit",
        f"--config={path}",
        "--x",
        "1",
    ]
    with pytest.raises(LeydenConfigError, match="no config file or shipped example"):
        resolve_config("classifier_digit")


def test_description_is_the_first_comment_line_without_the_command(tmp_path) -> None:
    config = tmp_path / "x.yaml"
    config.write_text("# PPO on CartPole-v1 (rl-zoo settings, as in\n# more\nmodel: {}\n")
    assert describe(config) == "PPO on CartPole-v1"
    config.write_text("# Supervised baseline on the digits: `leyden fit --config examples/x.yaml`\n")
    assert describe(config) == "Supervised baseline on the digits"


def test_examples_and_fit_by_name_through_the_console_script(tmp_path) -> None:
    listed = leyden("examples", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert (
        "leyden-core: 1 example" in listed.stdout
        and "classifier_digits  Supervised baseline" in listed.stdout
    )
    run = leyden("fit", "--config", "classifier_digits", "--trainer.fast_dev_run", "true", cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    missing = leyden("fit", "--config", "no_such_example", cwd=tmp_path)
    assert missing.returncode == 2 and "leyden: error: no config file or shipped example" in missing.stderr


@pytest.mark.parametrize("plugin", ["core", "selfsup", "rl", "sim"])
def test_the_wheel_carries_the_example_configs(plugin: str, tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    source = tmp_path / plugin
    shutil.copytree(REPO / "packages" / plugin, source, ignore=shutil.ignore_patterns("*.egg-info", "build"))
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source)]
    subprocess.run([*build, "-w", str(tmp_path / "wheel")], check=True, capture_output=True, timeout=300)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {Path(n).name for n in names if "/example_configs/" in n and n.endswith(".yaml")}
    assert shipped == {p.name for p in (REPO / "examples" / plugin).glob("*.yaml")}
