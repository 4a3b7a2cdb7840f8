"""Example configs that ship inside the plugins, so a wheel install runs them by name.

    leyden examples                       # every installed plugin's examples, one line each
    leyden fit --config ppo_cartpole      # the same as --config examples/rl/ppo_cartpole.yaml

Each distribution's package holds an ``example_configs/`` folder of YAML files: in the repository it is a
link to ``examples/<plugin>/`` (one copy of each file), and the wheel carries the files themselves
(``[tool.setuptools.package-data]``). A config's description is its first comment line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import entry_points
from importlib.resources import files
from pathlib import Path

from leyden_core.errors import LeydenConfigError
from leyden_core.plugins import ENTRY_POINT_GROUP

FOLDER = "example_configs"  # inside each package; a link to examples/<plugin>/ in the repository
SUFFIX = ".yaml"


@dataclass(frozen=True)
class Example:
    package: str  # the top-level package that ships it, e.g. "leyden_rl"
    name: str  # the file name without ".yaml", e.g. "ppo_cartpole"
    path: Path

    @property
    def description(self) -> str:
        return describe(self.path)


def example_packages() -> list[str]:
    """``leyden_core`` and the top-level package of every installed plugin, without duplicates."""
    packages = ["leyden_core"]
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        package = entry_point.value.partition(":")[0].partition(".")[0]
        if package not in packages:
            packages.append(package)
    return packages


def shipped_examples(package: str) -> list[Example]:
    """The ``example_configs/*.yaml`` inside ``package`` (none when it ships no examples folder)."""
    try:
        folder = files(package) / FOLDER
    except ModuleNotFoundError:
        return []
    if not folder.is_dir():
        return []
    paths = sorted(Path(str(item)) for item in folder.iterdir() if item.name.endswith(SUFFIX))
    return [Example(package, path.name[: -len(SUFFIX)], path) for path in paths]


def all_examples() -> list[Example]:
    return [example for package in example_packages() for example in shipped_examples(package)]


def describe(path: Path, width: int = 100) -> str:
    """A config's first comment line, up to its first clause: no command, no parenthesis left open."""
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            text = line.lstrip("#").strip()
            text = re.split(r":?\s*`?leyden fit\b", text)[0]
            clause = re.search(r"[:;.] ", text[25:])  # a clause long enough to say what the example is
            if clause:
                text = text[: 25 + clause.start()]
            if text.count("(") > text.count(")"):
                text = text[: text.rindex("(")]
            text = text.rstrip(" :;,")
            return text if len(text) <= width else text[: width - 1].rstrip() + "…"
    return ""


def resolve_config(value: str) -> str:
    """``--config`` as given when it is a file (or not a plain name); else the shipped example of that name.

    ``ppo_cartpole``, ``ppo_cartpole.yaml`` and ``rl/ppo_cartpole`` all name the rl plugin's example.
    """
    if Path(value).exists() or not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", value):
        return value
    plugin, _, name = value.rpartition("/")
    name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name
    matches = [
        e for e in all_examples() if e.name == name and (not plugin or e.package.endswith(f"_{plugin}"))
    ]
    if not matches:
        raise LeydenConfigError(
            f"no config file or shipped example named {value!r}",
            "`leyden examples` lists the examples of the installed plugins; or pass a path to a YAML file",
        )
    if len(matches) > 1:
        options = ", ".join(f"{m.package.removeprefix('leyden_')}/{m.name}" for m in matches)
        raise LeydenConfigError(f"several plugins ship an example named {value!r}", f"name one of {options}")
    return str(matches[0].path)


def resolve_config_args(argv: list[str]) -> list[str]:
    """``argv`` with every ``--config NAME`` (or ``--config=NAME``) naming a shipped example replaced by its path."""
    out = list(argv)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = resolve_config(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + resolve_config(arg.partition("=")[2])
    return out


def list_examples() -> None:
    """``leyden examples``: each installed plugin's shipped configs, with one line on each."""
    for package in example_packages():
        examples = shipped_examples(package)
        print(f"{package.replace('_', '-')}: {len(examples)} example{'s' if len(examples) != 1 else ''}")
        width = max((len(e.name) for e in examples), default=0)
        for example in examples:
            print(f"  {example.name:{width}}  {example.description}")
    print("run one with: leyden fit --config NAME (e.g. leyden fit --config ppo_cartpole)")
