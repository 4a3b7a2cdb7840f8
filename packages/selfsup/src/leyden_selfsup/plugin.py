"""Entry point of the selfsup plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin

METHODS = (
    "leyden_selfsup.simclr.SimCLR",
    "leyden_selfsup.moco_v2.MoCoV2",
    "leyden_selfsup.moco_v3.MoCoV3",
    "leyden_selfsup.rotnet.RotNet",
    "leyden_selfsup.jigsaw.Jigsaw",
    "leyden_selfsup.noisy_student.NoisyStudent",
)

plugin = LeydenPlugin(
    name="selfsup",
    models=(*METHODS, "leyden_selfsup.linear_eval.LinearEval"),
    datamodules=(
        "leyden_selfsup.data.CIFAR10DataModule",
        "leyden_selfsup.data.STL10DataModule",
        "leyden_selfsup.data.ImageFolderDataModule",
    ),
)
