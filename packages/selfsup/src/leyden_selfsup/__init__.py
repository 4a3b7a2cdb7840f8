"""Leyden selfsup: self- and semi-supervised image representation learning for Lightning.

Start from a method and a DataModule. Pretraining, each with an online linear probe and kNN
accuracy: :class:`SimCLR`, :class:`MoCoV2`, :class:`MoCoV3`, :class:`BYOL`, :class:`DINO`,
:class:`BarlowTwins`, :class:`VICReg`, :class:`MAE`, :class:`RotNet`, :class:`Jigsaw`.
Semi-supervised: :class:`NoisyStudent`, :class:`FixMatch`. Evaluation of a pretrained trunk:
:class:`LinearEval`. Data: ``leyden_core.DigitsDataModule`` (bundled), :class:`CIFAR10DataModule`,
:class:`STL10DataModule`, :class:`ImageFolderDataModule` (your own images). A new method subclasses
:class:`SelfSupervisedModule` and writes only ``pretext_step``; views are made on the device by
:class:`ViewAugment`. With the ``text`` extra: :class:`CausalLMPretraining` (GPT-style),
:class:`MaskedLMPretraining` (BERT-style) and :class:`TextClassifier` on :class:`TextDataModule`.
Everything the ``leyden`` CLI offers is importable from here.

    import lightning.pytorch as pl
    from leyden_core import DigitsDataModule
    from leyden_selfsup import SimCLR

    model = SimCLR(backbone="leyden_tiny_cnn", image_size=16)
    pl.Trainer(max_epochs=1).fit(model, DigitsDataModule(image_size=16, train_on="all", labeled_fraction=0.1))
"""

from leyden_core.lazy import exports_of, lazy_exports
from leyden_selfsup.plugin import plugin

__version__ = "0.1.0"

_EXPORTS = {
    **exports_of(*plugin.models, *plugin.datamodules),  # every method and DataModule of the CLI
    "SelfSupervisedModule": "leyden_selfsup.base",
    "ViewAugment": "leyden_selfsup.augment",
    "KNNAccuracy": "leyden_selfsup.evaluation",
    "OnlineLinearProbe": "leyden_selfsup.evaluation",
    "LARS": "leyden_selfsup.optim",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
