"""The bundled text: real English that ships with Python, so nothing is downloaded.

Two parts, both from the running interpreter's standard library:

- the documentation topics of ``pydoc_data.topics`` (the language reference sections ``help()``
  shows: ``for``, ``with``, ``lambda``, ...) - unlabeled, pretraining text only;
- the docstrings of modules, classes and functions of 108 standard-library modules, each labeled
  with the module's *family* (text processing, numbers, files, time, concurrency, network, data
  formats, containers, developer tools). Predicting a passage's family from its words is the
  downstream task: real labels, available offline.

Splits are by document (one docstring), fixed by a hash of its qualified name, so no passage of a
document is in two splits and a split does not change when the collection grows. The exact texts
depend on the Python version (docstrings change between releases); within one version they are fixed.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import warnings
from dataclasses import dataclass
from functools import cache
from types import ModuleType

SPLITS = ("train", "val", "test")
MIN_WORDS = 8

FAMILIES: dict[str, tuple[str, ...]] = {
    "text": ("string", "re", "textwrap", "difflib", "unicodedata", "codecs", "stringprep", "html",
             "html.parser", "gettext", "locale"),
    "numbers": ("math", "cmath", "decimal", "fractions", "statistics", "random", "numbers"),
    "files": ("os", "os.path", "posixpath", "shutil", "pathlib", "glob", "fnmatch", "tempfile", "filecmp",
              "io", "stat", "fileinput"),
    "time": ("datetime", "time", "calendar", "zoneinfo", "sched"),
    "concurrency": ("threading", "multiprocessing", "multiprocessing.pool", "multiprocessing.managers",
                    "asyncio", "asyncio.tasks", "asyncio.events", "asyncio.streams", "concurrent.futures",
                    "queue", "subprocess", "selectors"),
    "network": ("socket", "ssl", "http.client", "http.server", "http.cookies", "urllib.request",
                "urllib.parse", "smtplib", "ftplib", "ipaddress", "imaplib", "poplib", "socketserver"),
    "formats": ("json", "json.decoder", "json.encoder", "csv", "pickle", "xml.etree.ElementTree",
                "xml.dom.minidom", "configparser", "plistlib", "struct", "base64", "zlib", "gzip", "zipfile",
                "tarfile", "email.message", "email.utils", "mailbox"),
    "containers": ("collections", "itertools", "functools", "heapq", "bisect", "operator", "array", "copy",
                   "dataclasses", "enum", "types", "weakref"),
    "tools": ("inspect", "dis", "ast", "traceback", "pdb", "bdb", "unittest", "unittest.mock", "doctest",
              "logging", "warnings", "argparse", "tokenize", "pydoc", "cProfile", "profile", "timeit", "trace"),
}  # fmt: skip
CLASS_NAMES = tuple(FAMILIES)


@dataclass(frozen=True)
class Document:
    """One text with an optional class index (``None``: unlabeled) and a name that identifies it."""

    text: str
    label: int | None
    name: str


def split_of(name: str, val_fraction: float = 0.15, test_fraction: float = 0.15) -> str:
    """``train``, ``val`` or ``test`` for a document, from a hash of its name (stable across runs)."""
    bucket = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    if bucket < test_fraction:
        return "test"
    return "val" if bucket < test_fraction + val_fraction else "train"


def _docstring(obj: object) -> str | None:
    text = inspect.getdoc(obj) if getattr(obj, "__doc__", None) else None
    return text if text and len(text.split()) >= MIN_WORDS else None


def _module_docstrings(module: ModuleType) -> dict[str, str]:
    """``qualified name -> docstring`` of the module, its public classes and functions, and their methods."""
    found: dict[str, str] = {}

    def add(name: str, obj: object) -> None:
        text = _docstring(obj)
        if text is not None:
            found[name] = text

    add(module.__name__, module)
    for name, obj in sorted(vars(module).items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isroutine(obj):
            add(f"{module.__name__}.{name}", obj)
        if inspect.isclass(obj):
            for member_name, member in sorted(vars(obj).items()):
                if not member_name.startswith("_") and (
                    inspect.isroutine(member) or isinstance(member, property)
                ):
                    add(f"{module.__name__}.{name}.{member_name}", getattr(member, "__func__", member))
    return found


@cache
def stdlib_docstrings() -> tuple[Document, ...]:
    """Every labeled docstring, in a fixed order (family, module, name); duplicates kept once."""
    documents, seen = [], set()
    for label, modules in enumerate(FAMILIES.values()):
        for module_name in modules:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    module = importlib.import_module(module_name)
            except ImportError:  # a module missing from this build of Python (e.g. no ssl)
                continue
            for name, text in _module_docstrings(module).items():
                if text not in seen:
                    seen.add(text)
                    documents.append(Document(text, label, name))
    return tuple(documents)


@cache
def pydoc_topics() -> tuple[Document, ...]:
    """The language reference topics of ``help()``, one unlabeled document each."""
    from pydoc_data.topics import topics

    return tuple(Document(text, None, f"topic:{name}") for name, text in sorted(topics.items()))


def stdlib_split(split: str, labeled_only: bool = False) -> list[Document]:
    """The documents of one split: labeled docstrings, plus the topics unless ``labeled_only``."""
    documents = stdlib_docstrings() if labeled_only else (*pydoc_topics(), *stdlib_docstrings())
    return [doc for doc in documents if split_of(doc.name) == split]
