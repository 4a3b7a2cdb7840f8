"""Turn jsonargparse's long parse errors into a few lines naming the problem and the closest fix."""

from __future__ import annotations

import difflib
import inspect
import re
from typing import Any

from lightning.pytorch import LightningDataModule, LightningModule


def _known_classes(base: type) -> dict[str, type]:
    """Imported subclasses of ``base`` by short name (what ``--model NAME`` accepts)."""
    found: dict[str, type] = {}
    stack = [base]
    while stack:
        cls = stack.pop()
        for sub in cls.__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith(("leyden", "__main__")) or sub.__module__.count("."):
                found.setdefault(sub.__name__, sub)
    return {name: cls for name, cls in found.items() if not name.startswith("_")}


def _option_names(parser: Any) -> list[str]:
    names: list[str] = []
    for action in getattr(parser, "_actions", None) or []:
        names.extend(s for s in action.option_strings if s.startswith("--"))
        subparsers = getattr(action, "_name_parser_map", None) or {}
        for sub in subparsers.values():
            names.extend(_option_names(sub))
    return names


def _init_arg_names(cls: type) -> list[str]:
    names = []
    for klass in cls.__mro__:
        if klass in (LightningModule, LightningDataModule, object):
            break
        try:
            params = inspect.signature(klass.__init__).parameters
        except (TypeError, ValueError):
            continue
        names.extend(p for p in params if p not in ("self", "args", "kwargs"))
    return names


def _suggest(word: str, vocabulary: list[str]) -> str | None:
    close = difflib.get_close_matches(word, sorted(set(vocabulary)), n=1, cutoff=0.6)
    return close[0] if close else None


_BAD_OPTION = re.compile(
    r"(?i:unrecognized arguments):\s*(?P<arg>\S+)"
    r"|Option ['\"](?P<option>[\w.]+)['\"] is not accepted"
    r"|[Kk]ey ['\"](?P<key>[\w.]+)['\"] is not expected"
    r"|No action for key ['\"](?P<action>[\w.]+)['\"]"
)
_BAD_CLASS = re.compile(
    r"Expected a path but (?P<a>\S+) either not accessible"
    r"|Expected a dot import path string: (?P<b>\S+)"
    r"|Import path (?P<c>\S+) does not exist"
    r"|[Nn]ot a subclass.*?['\"](?P<d>[\w.]+)['\"]"
)
_EMBEDDED_CONFIG_ERROR = re.compile(r"- (?P<problem>[^\n]+)\n\s+fix: (?P<fix>[^\n]+)")


def short_parser_error(message: str, parser: Any) -> str:
    """A short error for ``message`` with a 'did you mean' drawn from what the parser accepts."""
    models = _known_classes(LightningModule)
    datamodules = _known_classes(LightningDataModule)

    embedded = _EMBEDDED_CONFIG_ERROR.search(message)
    if embedded:  # a LeydenConfigError raised while instantiating a class, wrapped by jsonargparse
        return _format(embedded.group("problem"), embedded.group("fix"))

    bad_class = _BAD_CLASS.search(message)
    if bad_class:
        name = next(g for g in bad_class.groups() if g).split(".")[-1]
        group, known = ("data", datamodules) if 'key "data"' in message else ("model", models)
        guess = _suggest(name, list(known))
        fix = f"did you mean {guess}?" if guess else "`leyden plugins` lists what is installed"
        return _format(f"unknown {group} {name!r}", f"{fix} (installed: {', '.join(sorted(known))})")

    bad_option = _BAD_OPTION.search(message)
    if bad_option:
        bad = next(g for g in bad_option.groups() if g).split("=")[0]
        options = _option_names(parser)
        leaf_names = {o.lstrip("-").split(".")[-1] for o in options}
        for cls in (*models.values(), *datamodules.values()):
            leaf_names.update(_init_arg_names(cls))
        if bad.startswith("--"):
            guess = _suggest(bad, options)
        else:
            guess = _suggest(bad.split(".")[-1], sorted(leaf_names))
        return _format(f"unknown option {bad!r}", f"did you mean {guess!r}?" if guess else "see --help")

    first_lines = "\n  ".join(line.strip() for line in message.strip().splitlines()[:4] if line.strip())
    return _format(first_lines, "see `leyden fit --help`")


def _format(problem: str, fix: str) -> str:
    return f"leyden: error: {problem}\n  fix: {fix}"
