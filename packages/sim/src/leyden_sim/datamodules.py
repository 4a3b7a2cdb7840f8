"""DataModules of the sim plugin.

``SynDigitsDataModule`` — SynDigits → real digits: synthetic labeled source, real unlabeled
target, real labeled evaluation. Training never sees a real label: the training loader yields
SynDigits, plus (for domain confusion) real digit images whose labels are dropped, combined with
Lightning's ``CombinedLoader``. Validation and test are the real digits with labels, for measuring only.
``target="blended"`` swaps the real digits for :class:`~leyden_sim.blended.BlendedDigitsDataModule`
(the real digits on real photographs) and renders the source in colour without the scanner sensor.

``TobinLocalizationDataModule`` — Tobin et al.'s localization renders for training, validation
on renders from another seed (items never seen in training).
"""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from lightning.pytorch.utilities import CombinedLoader
from torch.utils.data import DataLoader, Dataset, TensorDataset

from leyden_core.checks import check_count, check_fraction, check_train_batches
from leyden_core.data import DigitsDataModule
from leyden_core.errors import LeydenConfigError
from leyden_sim.blended import BlendedDigitsDataModule
from leyden_sim.content import FONTS, PEN_FRACTION
from leyden_sim.datasets import EndlessRandomizedDataset, syn_digits, tobin_localization
from leyden_sim.randomizers import Blur, Camera, Colour, Distractors, Lighting, Noise, Stroke, Texture
from leyden_sim.scene import Randomizer
from leyden_sim.textures import SOURCE_PHOTOS

TARGETS = ("digits", "blended")


def _digit_families(slant: float, elastic: float, aspect: tuple[float, float]) -> dict[str, Randomizer]:
    """The grey-scanner ranges of :func:`digits_randomization`, by family name."""
    return {
        "stroke": Stroke(width=(0.5, 3.5), slant=(-slant, slant), aspect=aspect, elastic=(0.0, elastic)),
        "distractors": Distractors(count=(0, 2), size=(0.05, 0.2)),
        "colour": Colour(background=(0.0, 0.15), objects=(0.75, 1.0), saturation=(0.0, 0.5)),
        "texture": Texture(probability=0.5, strength=(0.0, 0.3)),
        "camera": Camera(
            scale=(0.9, 1.05), rotation=(-10, 10), translation=(-0.05, 0.05), perspective=(0, 0.05)
        ),
        "lighting": Lighting(brightness=(0.8, 1.2), contrast=(0.8, 1.2), shading=(0.0, 0.3)),
        "blur": Blur(sigma=(0.0, 1.5)),
        "noise": Noise(std=(0.0, 0.05)),
    }


def digits_randomization(
    exclude: Sequence[str] = (),
    slant: float = 0.35,
    elastic: float = 3.0,
    aspect: tuple[float, float] = (0.55, 1.0),
) -> list[Randomizer]:
    """Every randomizer family with ranges suited to a grey digit scanner, minus ``exclude``.
    ``slant`` (shear, ±), ``elastic`` (px, from 0) and ``aspect`` (width scale; > 1 widens) bound the
    handwriting model of ``Stroke``.

    The ranges keep ink brighter than paper (scikit-learn's digits count "on" pixels) and keep
    textures, distractors and noise faint enough that a 4×4-pixel sensor cell can still see ink.
    """
    return _without(_digit_families(slant, elastic, aspect), exclude)


def photo_digits_randomization(
    exclude: Sequence[str] = (),
    slant: float = 0.35,
    elastic: float = 3.0,
    aspect: tuple[float, float] = (0.55, 1.0),
) -> list[Randomizer]:
    """Every randomizer family with ranges for digits on photographs, minus ``exclude``.

    Unlike :func:`digits_randomization`, ink and paper take any hue and either polarity (light ink
    on dark paper or the reverse, half the scenes each, always with some contrast), and most
    surfaces are textured, mostly by photographs: of :data:`~leyden_sim.textures.SOURCE_PHOTOS`,
    disjoint from the blended target's photographs. The texture strength (up to 0.4) was chosen on
    the blended target's validation split, over (0.2, 0.6) and (0.4, 0.9) (benchmarks/sim.md).
    """
    families = _digit_families(slant, elastic, aspect)  # its stroke, camera, blur and noise; the rest below
    families.update(
        distractors=Distractors(count=(0, 3), size=(0.05, 0.3)),
        colour=Colour(background=(0.0, 0.35), objects=(0.65, 1.0), saturation=(0.0, 1.0), flip=0.5),
        texture=Texture(
            kinds=("photo", "photo", "noise", "gradient", "checker"),
            probability=0.9,
            strength=(0.0, 0.4),
            photos=SOURCE_PHOTOS,
        ),
        lighting=Lighting(brightness=(0.7, 1.3), contrast=(0.6, 1.3), shading=(0.0, 0.3)),
    )
    return _without(families, exclude)


def _without(families: dict[str, Randomizer], exclude: Sequence[str]) -> list[Randomizer]:
    unknown = set(exclude) - set(families)
    if unknown:
        raise LeydenConfigError(f"unknown randomizer families {sorted(unknown)}", f"use {sorted(families)}")
    return [r for name, r in families.items() if name not in exclude]


def _check_sizes(length: int, image_size: int, batch_size: int, num_workers: int) -> None:
    check_count("length", length)
    check_count("image_size", image_size, minimum=8)
    check_count("batch_size", batch_size)
    check_count("num_workers", num_workers, minimum=0)


def _loader(dataset: Dataset, batch_size: int, shuffle: bool, num_workers: int) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=shuffle,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
    )


class SynDigitsDataModule(pl.LightningDataModule):
    """Labeled SynDigits for training; scikit-learn's real digits as the target / evaluation domain.

    Args:
        randomizers: the randomization (``None``: :func:`digits_randomization`; ``[]``: none).
        length: synthetic training items (map-style, rendered once in ``setup``); ``endless=True``
            streams fresh items instead.
        with_target: also yield real digits without labels (``{"source", "target"}`` batches) for DANN.
        fonts, pen_fraction: the digit fonts and the share of procedural handwriting
            (:class:`~leyden_sim.content.DigitContent`).
        image_size, channels: model input; the real digits are resized the same way.
        seed: fixes the synthetic items and the real splits.
        target: ``"digits"`` (scikit-learn's scans, grey scanner sensor) or ``"blended"`` (the scans
            on photographs; needs ``channels=3``; the source is rendered in colour, no sensor).
    """

    num_classes = 10

    def __init__(
        self,
        randomizers: list[Randomizer] | None = None,
        length: int = 10_000,
        endless: bool = False,
        with_target: bool = False,
        fonts: Sequence[str] = FONTS,
        pen_fraction: float | None = PEN_FRACTION,
        image_size: int = 16,
        channels: int = 1,
        batch_size: int = 128,
        seed: int = 0,
        val_fraction: float = 0.15,
        test_fraction: float = 0.35,
        num_workers: int = 0,
        target: str = "digits",
    ) -> None:
        super().__init__()
        _check_sizes(length, image_size, batch_size, num_workers)
        if channels not in (1, 3):
            raise LeydenConfigError(f"channels must be 1 or 3, got {channels}", "set channels: 1 or 3")
        if target not in TARGETS:
            raise LeydenConfigError(f"unknown target {target!r}", f"use one of {TARGETS}")
        if target == "blended" and channels != 3:
            raise LeydenConfigError("the blended target is in colour", "set channels: 3")
        if pen_fraction is not None:
            check_fraction("pen_fraction", pen_fraction, PEN_FRACTION or 0.5)
        self.save_hyperparameters(ignore=["randomizers"])
        self.randomizers = digits_randomization() if randomizers is None else list(randomizers)
        self.batch_size, self.num_workers = batch_size, num_workers
        self.image_size, self.channels = image_size, channels  # what a model checks its input against
        self.source: Dataset | None = None
        self.real: DigitsDataModule | None = None

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.real is None and hp.target == "blended":
            self.real = BlendedDigitsDataModule(
                image_size=hp.image_size,
                batch_size=hp.batch_size,
                val_fraction=hp.val_fraction,
                test_fraction=hp.test_fraction,
                seed=hp.seed,
                num_workers=hp.num_workers,
            )
        if self.real is None:  # built here, not in __init__: LightningCLI would hand it our hparams
            self.real = DigitsDataModule(
                image_size=hp.image_size,
                channels=hp.channels,
                batch_size=hp.batch_size,
                val_fraction=hp.val_fraction,
                test_fraction=hp.test_fraction,
                seed=hp.seed,
                num_workers=hp.num_workers,
            )
        self.real.setup(stage)
        if self.source is None:  # rendered once; a caller may also hand in an already rendered source
            sensor = {"sensor_size": None, "levels": None, "binarize": None} if hp.target == "blended" else {}
            synthetic = syn_digits(
                self.randomizers,
                hp.length,
                hp.seed,
                hp.fonts,
                hp.pen_fraction,
                hp.image_size,
                hp.channels,
                **sensor,
            )
            self.source = EndlessRandomizedDataset(synthetic) if hp.endless else synthetic.materialize()
        target_images = self.real.train.tensors[0]  # the labels of these images are never used
        self.target = TensorDataset(target_images, torch.full((len(target_images),), -1))

    def train_dataloader(self) -> DataLoader | CombinedLoader:
        if not self.hparams.endless:  # the training loader drops the last partial batch
            world_size = self.trainer.world_size if self.trainer is not None else 1
            check_train_batches(len(self.source), self.batch_size, True, world_size)
        source = _loader(self.source, self.batch_size, not self.hparams.endless, self.num_workers)
        if not self.hparams.with_target:
            return source
        if self.hparams.endless:
            raise LeydenConfigError("with_target needs a finite source", "set endless: false for DANN")
        return CombinedLoader(
            {"source": source, "target": _loader(self.target, self.batch_size, True, self.num_workers)},
            "max_size_cycle",
        )

    def val_dataloader(self) -> DataLoader:
        return self.real.val_dataloader()

    def test_dataloader(self) -> DataLoader:
        return self.real.test_dataloader()


class TobinLocalizationDataModule(pl.LightningDataModule):
    """``(image, position, shape)`` renders of a target shape among distractors on a textured table.

    Args:
        randomizers: the randomization (``None``: :func:`~leyden_sim.datasets.tobin_localization`'s
            textures and distractors).
        length, val_length: rendered training / validation items (rendered once in ``setup``).
        image_size: side of the square renders, in pixels.
        seed: fixes the training items; validation uses ``seed + 1`` (different tables and poses).
    """

    def __init__(
        self,
        randomizers: list[Randomizer] | None = None,
        length: int = 4000,
        val_length: int = 500,
        image_size: int = 32,
        batch_size: int = 64,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        _check_sizes(length, image_size, batch_size, num_workers)
        check_count("val_length", val_length)
        self.save_hyperparameters(ignore=["randomizers"])
        self.randomizers = randomizers
        self.image_size = image_size
        self.train: Dataset | None = None
        self.val: Dataset | None = None

    def setup(self, stage: str | None = None) -> None:
        hp = self.hparams
        if self.train is None:
            self.train, self.val = (
                tobin_localization(length, seed, hp.image_size, randomizers=self.randomizers).materialize()
                for length, seed in ((hp.length, hp.seed), (hp.val_length, hp.seed + 1))
            )

    def train_dataloader(self) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        check_train_batches(len(self.train), self.hparams.batch_size, True, world_size)
        return _loader(self.train, self.hparams.batch_size, True, self.hparams.num_workers)

    def val_dataloader(self) -> DataLoader:
        return _loader(self.val, self.hparams.batch_size, False, self.hparams.num_workers)
