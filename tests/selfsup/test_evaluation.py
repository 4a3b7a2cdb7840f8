"""Online probe and kNN metric: correct on hand-made data, and the same under a 2-process reduce."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from leyden_selfsup.evaluation import KNNAccuracy, OnlineLinearProbe


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    centers = torch.randn(3, 8, generator=gen) * 3
    bank_labels = torch.arange(3).repeat(10)
    query_labels = torch.arange(3).repeat(4)
    bank = centers[bank_labels] + torch.randn(30, 8, generator=gen)
    queries = centers[query_labels] + 6 * torch.randn(12, 8, generator=gen)
    return bank, bank_labels, queries, query_labels


def _brute_force_knn(bank, bank_labels, queries, query_labels, k, temperature) -> float:
    correct = 0
    for query, label in zip(queries, query_labels, strict=True):
        sims = F.cosine_similarity(query[None], bank)
        top = sims.argsort(descending=True)[:k]
        votes = torch.zeros(3, dtype=bank.dtype)
        for j in top:
            votes[bank_labels[j]] += torch.exp(sims[j] / temperature)
        correct += int(votes.argmax() == label)
    return correct / len(queries)


def test_knn_matches_brute_force_and_ignores_unlabeled() -> None:
    bank, bank_labels, queries, query_labels = _data()
    metric = KNNAccuracy(k=5, temperature=0.2, num_classes=3)
    metric.update(bank, bank_labels, train=True)
    metric.update(torch.randn(4, 8) * 100, torch.full((4,), -1), train=True)  # withheld labels: left out
    metric.update(queries, query_labels, train=False)
    expected = _brute_force_knn(bank, bank_labels, queries, query_labels, 5, 0.2)
    assert metric.compute().item() == pytest.approx(expected)
    assert 0.3 < expected < 1.0  # the data are neither trivial nor hopeless


def test_probe_learns_separable_features_and_skips_unlabeled() -> None:
    bank, bank_labels, _, _ = _data()
    probe = OnlineLinearProbe(8, 3)
    optimizer = torch.optim.Adam(probe.parameters(), lr=0.05)
    labels = bank_labels.clone()
    labels[:6] = -1
    for _ in range(100):
        optimizer.zero_grad()
        probe.training_loss(bank, labels).backward()
        optimizer.step()
    assert probe.train_accuracy.compute() > 0.9
    assert probe.training_loss(bank, torch.full((30,), -1)).item() == 0.0


def test_knn_at_a_low_temperature_does_not_overflow_float32() -> None:
    # exp(1 / 0.005) = exp(200) is inf in float32: the weights must be max-subtracted before exp
    bank, bank_labels, queries, query_labels = _data()
    metric = KNNAccuracy(k=5, temperature=0.005, num_classes=3)
    metric.update(bank, bank_labels, train=True)
    metric.update(queries, query_labels, train=False)
    expected = _brute_force_knn(
        bank.double(), bank_labels, queries.double(), query_labels, 5, 0.005
    )  # float64 holds exp(200)
    assert metric.compute().item() == pytest.approx(expected)
    assert expected > 0.3
