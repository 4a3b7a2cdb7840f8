"""Datasets: seeded, shaped, balanced; the endless stream splits items across workers."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from leyden_sim.content import TYPESET, glyph
from leyden_sim.datamodules import SynDigitsDataModule, digits_randomization
from leyden_sim.datasets import EndlessRandomizedDataset, syn_digits, tobin_localization


def test_syn_digits_seeded_and_shaped():
    dataset = syn_digits(digits_randomization(), length=20, seed=3, image_size=12)
    image, label = dataset[7]
    assert image.shape == (1, 12, 12) and label == 7
    assert 0.0 <= image.min() and image.max() <= 1.0
    torch.testing.assert_close(
        image, syn_digits(digits_randomization(), length=20, seed=3, image_size=12)[7][0]
    )
    assert not torch.equal(image, syn_digits(digits_randomization(), length=20, seed=4, image_size=12)[7][0])
    assert [dataset[i][1] for i in range(20)] == [i % 10 for i in range(20)]


def test_every_typeset_font_renders_every_digit():
    for font in TYPESET:
        for digit in "0123456789":
            ink = glyph(font, digit)
            assert ink.shape[0] > 10 and ink.max() > 0.5, (font, digit)


def test_sensor_quantizes_like_the_real_digits():
    image, _ = syn_digits(length=10, image_size=8, levels=16)[4]
    assert torch.allclose(image * 16, (image * 16).round(), atol=1e-5)


def test_digits_randomization_handwriting_ranges():
    stroke = digits_randomization(exclude=["distractors"], slant=0.5, elastic=4.0)[0]
    assert stroke.slant == (-0.5, 0.5) and stroke.elastic == (0.0, 4.0)
    assert len(digits_randomization()) == len(digits_randomization(["distractors"])) + 1


def test_materialize_matches_indexing():
    dataset = syn_digits(digits_randomization(), length=6, image_size=8)
    tensors = dataset.materialize().tensors
    torch.testing.assert_close(tensors[0][5], dataset[5][0])
    assert tensors[1].tolist() == [0, 1, 2, 3, 4, 5]


def test_endless_stream_is_worker_aware():
    base = syn_digits(length=1, image_size=8)
    stream = EndlessRandomizedDataset(base)
    single = [label for _, label in (next(iter(stream)) for _ in range(1))]
    assert single == [0]
    loader = DataLoader(stream, batch_size=None, num_workers=2)
    labels = []
    for i, (_, label) in enumerate(loader):
        labels.append(int(label))
        if i == 5:
            break
    # worker 0 yields items 0, 2, 4; worker 1 items 1, 3, 5; the loader interleaves them
    assert sorted(labels) == [0, 1, 2, 3, 4, 5]


def test_tobin_localization_labels():
    dataset = tobin_localization(length=10, image_size=32)
    image, position, label = dataset[3]
    assert image.shape == (3, 32, 32) and position.shape == (2,)
    assert 0.0 <= position.min() and position.max() <= 1.0 and label == 3 % 5


def test_datamodule_combines_source_and_target():
    data = SynDigitsDataModule(
        digits_randomization(), length=32, with_target=True, image_size=8, batch_size=8
    )
    data.setup("fit")
    batch, _, _ = next(iter(data.train_dataloader()))
    (sx, sy), (tx, ty) = batch["source"], batch["target"]
    assert sx.shape == tx.shape == (8, 1, 8, 8)
    assert (ty == -1).all() and sy.min() >= 0  # real labels never reach training
    images, labels = next(iter(data.test_dataloader()))
    assert images.shape[1:] == (1, 8, 8) and labels.min() >= 0


def test_sensor_binarizes_then_counts_ink_per_block_like_the_scanner():
    dataset = syn_digits(digits_randomization(), length=4, image_size=8, sensor_size=8, levels=None)
    plain = syn_digits(
        digits_randomization(), length=4, image_size=8, sensor_size=8, levels=None, binarize=None
    )
    image = dataset[2][0]
    # a binary 32×32 bitmap averaged over 4×4 blocks: every value is a multiple of 1/16
    assert torch.allclose(image * 16, (image * 16).round(), atol=1e-5)
    assert not torch.allclose(plain[2][0] * 16, (plain[2][0] * 16).round(), atol=1e-5)
