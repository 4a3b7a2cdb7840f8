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
_CLASS_PATH = re.compile(r"class_path[ =]['\"](?P<path>[\w.]+)['\"]")
_PARSER_KEY = re.compile(r"Parser key ['\"](?P<key>[\w.]+)['\"]")
_EXPECTED = re.compile(r"Expected an? <class '(?:\w+\.)*(?P<type>\w+)'>\.? ?(?:Got value: (?P<value>.+))?")
_NOISE = ("Given value", "Subtypes:", "Does not validate against any of the Union subtypes", "Errors:")


def _union_errors(message: str) -> list[str]:
    """The bullets under jsonargparse's ``Errors:`` (one per type of a Union that was tried), each
    joined into one block; the ``Expected a <class 'NoneType'>`` of optional values left out."""
    lines = message.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Errors:"), None)
    if start is None:
        return []
    indent = None
    bullets: list[list[str]] = []
    for line in lines[start + 1 :]:
        stripped = line.strip()
        if stripped.startswith("Given value"):
            break
        depth = len(line) - len(line.lstrip())
        if stripped.startswith("- ") and (indent is None or depth <= indent):
            indent = depth
            bullets.append([stripped[2:]])
        elif bullets:
            bullets[-1].append(stripped)
    blocks = ["\n".join(b) for b in bullets]
    return [b for b in blocks if not b.startswith("Expected a <class 'NoneType'>")]


def _default_of(class_path: str | None, key: str) -> str | None:
    if not class_path:
        return None
    try:
        cls = _import(class_path)
    except Exception:  # noqa: BLE001 - a hint only; never fail while reporting an error
        return None
    for klass in getattr(cls, "__mro__", ()):
        try:
            param = inspect.signature(klass.__init__).parameters.get(key)
        except (TypeError, ValueError):
            continue
        if param is not None and param.default is not inspect.Parameter.empty and param.default is not None:
            return repr(param.default) if isinstance(param.default, str) else str(param.default)
    return None


def _import(path: str) -> type:
    import importlib

    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _nested_cause(message: str) -> str | None:
    """A short problem/fix for jsonargparse's nested 'Parser key ... Does not validate ...' errors: the
    option and the value it rejected (with the class's default as an example), or the error a
    constructor raised, without the Namespace dump."""
    errors = _union_errors(message)
    if not errors:
        return None
    embedded = _EMBEDDED_CONFIG_ERROR.search(errors[0])
    if embedded:
        return _format(embedded.group("problem"), embedded.group("fix"))
    block = errors[0]
    class_path = next((m.group("path") for m in _CLASS_PATH.finditer(block)), None)
    class_path = class_path or next((m.group("path") for m in _CLASS_PATH.finditer(message)), None)
    keys = [m.group("key") for m in _PARSER_KEY.finditer(block)]
    expected = _EXPECTED.search(block)
    owner = class_path.rpartition(".")[2] if class_path else None
    if keys and expected:
        key = keys[-1]
        got = (expected.group("value") or "").strip()
        problem = f"{owner + ' ' if owner else ''}option {key!r} expects a {expected.group('type')}"
        problem += f", got {got!r}" if got else ""
        default = _default_of(class_path, key)
        fix = (
            f"e.g. {key}: {default} (the default)" if default else f"see `leyden fit --model {owner} --help`"
        )
        return _format(problem, fix)
    cause = next(
        (line for line in block.splitlines() if line and not line.startswith(_NOISE)),
        block.splitlines()[0],
    )
    where = f"{owner} could not be created: " if owner else ""
    return _format(where + cause[:200], "see `leyden fit --model NAME --help` for the options it takes")


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
        if guess and guess.lstrip("-").split(".")[-1] == bad.lstrip("-").split(".")[-1]:
            return _format(  # the option exists, in other classes than the one chosen
                f"unknown option {bad!r} for the chosen class",
                "`leyden fit --model NAME --help` (or --data NAME --help) lists the options it takes",
            )
        return _format(f"unknown option {bad!r}", f"did you mean {guess!r}?" if guess else "see --help")

    nested = _nested_cause(message)
    if nested:
        return nested

    kept = [line.strip() for line in message.strip().splitlines() if line.strip()]
    kept = [line[:200] for line in kept if not line.startswith(_NOISE)] or kept[:1]
    return _format("\n  ".join(kept[:2]), "see `leyden fit --help`")


def _format(problem: str, fix: str) -> str:
    return f"leyden: error: {problem}\n  fix: {fix}"
