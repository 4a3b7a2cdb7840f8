"""Label budgets for label-scarce training: which training samples keep their label.

Shared by every Leyden DataModule that offers ``labels_per_class`` / ``labeled_fraction``, so the
options mean the same thing, and a budget larger than the data is refused the same way, everywhere.
"""

from __future__ import annotations

import numpy as np

from leyden_core.errors import LeydenConfigError


def check_label_budget(labels_per_class: int | None, labeled_fraction: float | None) -> None:
    """Checks that need no data (run in a DataModule's constructor)."""
    if labels_per_class is not None and labeled_fraction is not None:
        raise LeydenConfigError("labels_per_class and labeled_fraction are both set", "set only one of them")
    if labels_per_class is not None and (isinstance(labels_per_class, bool) or labels_per_class < 1):
        raise LeydenConfigError(
            f"labels_per_class must be at least 1, got {labels_per_class}", "e.g. labels_per_class: 10"
        )
    if labeled_fraction is not None and not 0.0 < labeled_fraction <= 1.0:
        raise LeydenConfigError(
            f"labeled_fraction must be in (0, 1], got {labeled_fraction}", "e.g. labeled_fraction: 0.05"
        )


def per_class_subset(labels: np.ndarray, labels_per_class: int, seed: int) -> np.ndarray:
    """Boolean mask keeping ``labels_per_class`` random samples of every class (fixed by ``seed``).

    A budget larger than the smallest class is an error: silently keeping fewer would make a
    "500 labels per class" run something else than it says.
    """
    classes, counts = np.unique(labels, return_counts=True)
    if labels_per_class > counts.min():
        smallest = classes[counts.argmin()]
        raise LeydenConfigError(
            f"labels_per_class={labels_per_class}, but the training split has only {counts.min()} "
            f"samples of class {smallest} ({counts.max()} in its largest class)",
            f"set labels_per_class <= {counts.min()}, or leave it unset to keep every label",
        )
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(labels), dtype=bool)
    for cls in classes:
        keep[rng.permutation(np.flatnonzero(labels == cls))[:labels_per_class]] = True
    return keep


def labeled_subset(
    labels: np.ndarray, labels_per_class: int | None, labeled_fraction: float | None, seed: int
) -> np.ndarray:
    """Boolean mask of the samples that keep their label, stratified by class (all when no budget)."""
    check_label_budget(labels_per_class, labeled_fraction)
    if labels_per_class is not None:
        return per_class_subset(labels, labels_per_class, seed)
    if labeled_fraction is None:
        return np.ones(len(labels), dtype=bool)
    rng = np.random.default_rng(seed)
    keep = np.zeros(len(labels), dtype=bool)
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        keep[members[: max(1, round(labeled_fraction * len(members)))]] = True
    return keep
