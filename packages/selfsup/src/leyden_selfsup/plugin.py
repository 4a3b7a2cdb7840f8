"""Entry point of the selfsup plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin
from leyden_selfsup.text import TEXT_DATAMODULES, TEXT_MODELS  # dotted paths: importable without the extra

METHODS = (
    "leyden_selfsup.simclr.SimCLR",
    "leyden_selfsup.moco_v2.MoCoV2",
    "leyden_selfsup.moco_v3.MoCoV3",
    "leyden_selfsup.rotnet.RotNet",
    "leyden_selfsup.jigsaw.Jigsaw",
    "leyden_selfsup.noisy_student.NoisyStudent",
    "leyden_selfsup.byol.BYOL",
    "leyden_selfsup.dino.DINO",
    "leyden_selfsup.barlow_twins.BarlowTwins",
    "leyden_selfsup.vicreg.VICReg",
    "leyden_selfsup.mae.MAE",
    "leyden_selfsup.fixmatch.FixMatch",
)

plugin = LeydenPlugin(
    name="selfsup",
    models=(*METHODS, "leyden_selfsup.linear_eval.LinearEval", *TEXT_MODELS),
    datamodules=(
        "leyden_selfsup.data.CIFAR10DataModule",
        "leyden_selfsup.data.STL10DataModule",
        "leyden_selfsup.data.ImageFolderDataModule",
        "leyden_selfsup.semisup_data.LabeledUnlabeledDataModule",
        *TEXT_DATAMODULES,
    ),
)
