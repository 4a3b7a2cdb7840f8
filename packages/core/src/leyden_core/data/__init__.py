"""Bundled real data that needs no download."""

from leyden_core.data.digits import DigitsDataModule, load_digits_images

__all__ = ["DigitsDataModule", "load_digits_images"]
