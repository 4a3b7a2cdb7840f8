"""Blended digits: scikit-learn's real digits on crops of real photographs (the MNIST-M recipe).

Ganin & Lempitsky (2015) built MNIST-M by blending each MNIST digit onto a random crop of a
BSDS500 photograph, ``|digit − patch|`` per channel: the background is the photo, the ink the
photo inverted. Here the digits are scikit-learn's 1,797 real scans and the photographs the
natural colour photos bundled with scikit-image and scikit-learn
(:data:`~leyden_sim.textures.TARGET_PHOTOS`) — nothing is downloaded. The source-side texture
randomization draws from a disjoint set (:data:`~leyden_sim.textures.SOURCE_PHOTOS`), so a model
trained on renders never sees a target photograph.

The digits keep :class:`~leyden_core.data.DigitsDataModule`'s stratified train / validation /
test splits (fixed by ``seed``); every split is blended with its own random stream of the same
``seed``, so a split's images are a deterministic function of the seed.
"""

from __future__ import annotations

import zlib

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from leyden_core.checks import check_count, check_train_batches
from leyden_core.data import DigitsDataModule
from leyden_core.data.digits import UNLABELED
from leyden_sim.textures import TARGET_PHOTOS, bundled_photos, random_crop

_BLEND_STREAM = zlib.crc32(b"blend")
SPLITS = ("train", "val", "test")


def blend_onto_photos(
    digits: torch.Tensor, rng: np.random.Generator, photos: tuple[str, ...] = TARGET_PHOTOS
) -> torch.Tensor:
    """``|digit − patch|`` per channel, one random photo crop per digit.

    ``digits``: (N, 1, H, W) grey ink in [0, 1]; returns (N, 3, H, W) in [0, 1]. Crops are squares
    of H to 2H pixels of the photos (at most 160 px a side), resized to H × W: a patch of a scene,
    as MNIST-M's 28-pixel crops of 481 × 321 photographs, not a whole scene shrunk.
    """
    bank = bundled_photos(photos)
    size = digits.shape[-1]
    patches = np.stack(
        [
            random_crop(bank[int(rng.integers(len(bank)))], size, rng, sides=(size, 2 * size))
            for _ in range(len(digits))
        ]
    )
    patches = torch.from_numpy(patches).permute(0, 3, 1, 2)  # (N, 3, H, W)
    return (digits - patches).abs().clamp_(0.0, 1.0).contiguous()


class BlendedDigitsDataModule(pl.LightningDataModule):
    """Real digits blended onto real photographs: the labeled target domain of sim-to-real.

    The training loader yields the blended training split with labels (the supervised upper bound);
    :attr:`unlabeled` holds the same images with label ``-1`` (the target data of DANN and AdaBN);
    :attr:`clean_train` the training digits before blending (the "trained on clean real digits" model).

    Args:
        image_size: side of the square images (the digits are resized from 8 px first).
        photos: the photographs the backgrounds are cropped from.
        batch_size, num_workers: of every loader.
        val_fraction, test_fraction: shares of the 1,797 digits held out, stratified.
        seed: fixes the splits and the crops.
    """

    num_classes = 10
    channels = 3

    def __init__(
        self,
        image_size: int = 16,
        photos: tuple[str, ...] = TARGET_PHOTOS,
        batch_size: int = 128,
        val_fraction: float = 0.15,
        test_fraction: float = 0.35,
        seed: int = 0,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        check_count("image_size", image_size, minimum=8)
        check_count("batch_size", batch_size)
        check_count("num_workers", num_workers, minimum=0)
        self.save_hyperparameters()
        self.photos = tuple(photos)
        bundled_photos(self.photos)  # unknown names fail here
        self.image_size, self.batch_size, self.num_workers = image_size, batch_size, num_workers
        self.digits = DigitsDataModule(
            image_size=image_size,
            channels=1,
            batch_size=batch_size,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            seed=seed,
            num_workers=num_workers,
        )
        self.train: TensorDataset | None = None

    def setup(self, stage: str | None = None) -> None:
        if self.train is not None:
            return
        self.digits.setup(stage)
        blended = {}
        for index, split in enumerate(SPLITS):
            images, labels = getattr(self.digits, split).tensors
            rng = np.random.default_rng([self.hparams.seed, index, _BLEND_STREAM])
            blended[split] = TensorDataset(blend_onto_photos(images, rng, self.photos), labels)
        self.train, self.val, self.test = (blended[split] for split in SPLITS)
        train_images, train_labels = self.train.tensors
        self.unlabeled = TensorDataset(train_images, torch.full_like(train_labels, UNLABELED))
        clean = self.digits.train.tensors[0]
        self.clean_train = TensorDataset(clean.expand(-1, 3, -1, -1).contiguous(), train_labels)

    def _loader(self, dataset: TensorDataset, shuffle: bool) -> DataLoader:
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=shuffle,
            drop_last=shuffle,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        world_size = self.trainer.world_size if self.trainer is not None else 1
        check_train_batches(len(self.train), self.batch_size, True, world_size)
        return self._loader(self.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test, shuffle=False)
