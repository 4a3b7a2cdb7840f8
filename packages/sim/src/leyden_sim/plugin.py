"""Entry point of the sim plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin

plugin = LeydenPlugin(
    name="sim",
    models=("leyden_sim.dann.DANN",),
    datamodules=("leyden_sim.datamodules.SynDigitsDataModule",),
)
