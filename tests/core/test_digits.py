"""The bundled digits DataModule: sizes, fixed stratified splits, labeled subsets."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from leyden_core.data import DigitsDataModule, load_digits_images
from leyden_core.errors import LeydenConfigError


def _setup(**kwargs) -> DigitsDataModule:
    data = DigitsDataModule(**kwargs)
    data.setup("fit")
    return data


def test_all_real_digits_resized_and_in_unit_range():
    images, labels = load_digits_images(image_size=16, channels=1)
    assert images.shape == (1797, 1, 16, 16) and labels.shape == (1797,)
    assert images.min() >= 0 and images.max() <= 1 and images.std() > 0.1
    assert sorted(Counter(labels.tolist())) == list(range(10))


def test_splits_are_stratified_disjoint_and_fixed_by_seed():
    a, b, c = _setup(seed=0, image_size=8), _setup(seed=0, image_size=8), _setup(seed=1, image_size=8)
    assert len(a.train) + len(a.val) + len(a.test) == 1797
    assert torch.equal(a.val.tensors[0], b.val.tensors[0])
    assert not torch.equal(a.val.tensors[0], c.val.tensors[0])
    val_counts = Counter(a.val.tensors[1].tolist())
    assert max(val_counts.values()) - min(val_counts.values()) <= 2
    train_keys = {img.numpy().tobytes() for img in a.train.tensors[0]}
    assert not train_keys & {img.numpy().tobytes() for img in a.test.tensors[0]}


def test_labels_per_class_keeps_that_many_and_exposes_the_rest_unlabeled():
    data = _setup(labels_per_class=3, image_size=8)
    assert Counter(data.labeled.tensors[1].tolist()) == dict.fromkeys(range(10), 3)
    assert len(data.labeled) + len(data.unlabeled) == len(_setup(image_size=8).train)
    assert (data.unlabeled.tensors[1] == -1).all() and len(data.unlabeled_targets) == len(data.unlabeled)


def test_labeled_fraction_and_train_on_all():
    data = _setup(labeled_fraction=0.1, train_on="all", image_size=8)
    labels = data.train.tensors[1]
    assert 0.08 < (labels >= 0).float().mean() < 0.12
    batch = next(iter(data.train_dataloader()))
    assert batch[0].shape[1:] == (3, 8, 8)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"labels_per_class": 2, "labeled_fraction": 0.1},
        {"labeled_fraction": 1.5},
        {"channels": 2},
        {"train_on": "x"},
    ],
)
def test_bad_settings_are_clear_errors(kwargs):
    with pytest.raises(LeydenConfigError):
        _setup(**kwargs)
