"""Leyden sim: domain randomization and domain adaptation for sim-to-real transfer.

Start from :class:`SynDigitsDataModule` (procedurally rendered, randomized digits as a labeled
source; the real digits as the unlabeled target and for evaluation) with :class:`DANN` (domain
confusion through a gradient-reversal layer) or ``leyden_core.ImageClassifier`` (source only);
:class:`TobinLocalizationDataModule` with :class:`PositionRegressor` (Tobin et al.'s object
localization from renders). For RL, :class:`PhysicsRandomization` randomizes an env's physics on
every reset and :class:`ADR` / :class:`ADRCallback` widen the ranges automatically; :class:`AdaBN`
re-estimates BatchNorm statistics on the target domain.
"""

from leyden_core.lazy import exports_of, lazy_exports
from leyden_sim.plugin import plugin

__version__ = "0.1.0"

_EXPORTS = {
    **exports_of(*plugin.models, *plugin.datamodules),  # every model and DataModule of the CLI
    "RandomizedImageDataset": "leyden_sim.datasets",
    "PhysicsRandomization": "leyden_sim.physics",
    "PhysicsRange": "leyden_sim.physics",
    "ADR": "leyden_sim.adr",
    "ADRCallback": "leyden_sim.callbacks",
    "AdaBN": "leyden_sim.adabn",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
