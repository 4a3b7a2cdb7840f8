"""Entry point of the sim plugin: what it adds to the `leyden` CLI."""

from leyden_core.plugins import LeydenPlugin

plugin = LeydenPlugin(
    name="sim",
    models=("leyden_sim.dann.DANN", "leyden_sim.localization.PositionRegressor"),
    datamodules=(
        "leyden_sim.datamodules.SynDigitsDataModule",
        "leyden_sim.datamodules.TobinLocalizationDataModule",
        "leyden_sim.blended.BlendedDigitsDataModule",
    ),
)
