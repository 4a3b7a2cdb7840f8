"""Leyden selfsup: self- and semi-supervised image representation learning for Lightning.

Start from a method — :class:`SimCLR`, :class:`MoCoV2`, :class:`MoCoV3`, :class:`RotNet`,
:class:`Jigsaw` (pretraining, each with an online linear probe and kNN accuracy), :class:`NoisyStudent`
(semi-supervised) or :class:`LinearEval` (a frozen trunk's linear evaluation) — and a DataModule:
``leyden_core.DigitsDataModule`` (bundled), :class:`CIFAR10DataModule`, :class:`STL10DataModule`
or :class:`ImageFolderDataModule` (your own images). A new method subclasses
:class:`SelfSupervisedModule` and writes only ``pretext_step``; views are made on the device by
:class:`ViewAugment`.

    import lightning.pytorch as pl
    from leyden_core import DigitsDataModule
    from leyden_selfsup import SimCLR

    model = SimCLR(backbone="leyden_tiny_cnn", image_size=16)
    pl.Trainer(max_epochs=1).fit(model, DigitsDataModule(image_size=16, train_on="all", labeled_fraction=0.1))
"""

from leyden_core.lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "SimCLR": "leyden_selfsup.simclr",
    "MoCoV2": "leyden_selfsup.moco_v2",
    "MoCoV3": "leyden_selfsup.moco_v3",
    "RotNet": "leyden_selfsup.rotnet",
    "Jigsaw": "leyden_selfsup.jigsaw",
    "NoisyStudent": "leyden_selfsup.noisy_student",
    "LinearEval": "leyden_selfsup.linear_eval",
    "SelfSupervisedModule": "leyden_selfsup.base",
    "ViewAugment": "leyden_selfsup.augment",
    "KNNAccuracy": "leyden_selfsup.evaluation",
    "OnlineLinearProbe": "leyden_selfsup.evaluation",
    "LARS": "leyden_selfsup.optim",
    "CIFAR10DataModule": "leyden_selfsup.data",
    "STL10DataModule": "leyden_selfsup.data",
    "ImageFolderDataModule": "leyden_selfsup.data",
}
__all__ = ["__version__", *_EXPORTS]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
