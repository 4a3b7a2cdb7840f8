"""Leyden core: the ``leyden`` CLI, plugin discovery, W&B logging, backbones and bundled data.

Start from:

* :class:`ImageClassifier` — a supervised classifier over any timm backbone (the baseline);
* :class:`DigitsDataModule` — scikit-learn's 1,797 real handwritten digits, no download, with
  label budgets (``labels_per_class`` / ``labeled_fraction``);
* :func:`create_backbone` and :class:`MultiHeadNet` — a timm trunk by name (``small_images`` for
  8–64 px) with named heads, the building block of every method;
* :class:`LeydenConfigError` — bad input, printed by the CLI as two lines (problem, fix).

Train from Python with any ``lightning.pytorch.Trainer``, or from the shell with
``leyden fit --model ImageClassifier --data DigitsDataModule``. Methods live in the plugins:
``leyden_selfsup``, ``leyden_rl``, ``leyden_sim``.
"""

from leyden_core.lazy import exports_of, lazy_exports
from leyden_core.plugins import CORE_PLUGIN

__version__ = "0.1.0"

_EXPORTS = {
    **exports_of(*CORE_PLUGIN.models, *CORE_PLUGIN.datamodules),  # what the CLI offers: ImageClassifier, ...
    "load_digits_images": "leyden_core.data.digits",
    "create_backbone": "leyden_core.backbones",
    "MultiHeadNet": "leyden_core.multihead",
    "LeydenConfigError": "leyden_core.errors",
    "LeydenPlugin": "leyden_core.plugins",
    "LeydenCLI": "leyden_core.lightning_cli",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
