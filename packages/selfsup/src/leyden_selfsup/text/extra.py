"""The ``text`` extra's guard: a clear error naming the extra, raised when a text run starts.

Text modules import ``transformers`` and ``tokenizers`` only inside functions, so the plugin (and
``leyden plugins``) import and list them without the extra installed; constructing one without it
is a two-line error instead of a ``ModuleNotFoundError`` traceback.
"""

from __future__ import annotations

import importlib.util

from leyden_core.errors import LeydenConfigError

TEXT_PACKAGES = ("transformers", "tokenizers")
INSTALL = 'pip install "leyden-selfsup[text]"'


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, or a half-removed package
        return False


def require_text_extra(what: str) -> None:
    """Raise ``LeydenConfigError`` if a package of the ``text`` extra is missing."""
    missing = [name for name in TEXT_PACKAGES if not _installed(name)]
    if missing:
        raise LeydenConfigError(f"{what} needs the '{missing[0]}' package, which is not installed", INSTALL)
