"""Argument checks for constructors: a bad value becomes a two-line ``LeydenConfigError`` before training.

Each check names the argument, the value given and an example of a valid one, e.g.::

    leyden: error: lr must be > 0, got -1.0
      fix: set lr to a positive number, e.g. lr: 0.001
"""

from __future__ import annotations

import math
from numbers import Real

from leyden_core.errors import LeydenConfigError


def _number(name: str, value: object, example: float) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or math.isnan(float(value)):
        raise LeydenConfigError(f"{name} must be a number, got {value!r}", f"e.g. {name}: {example}")
    return float(value)


def check_positive(name: str, value: object, example: float) -> None:
    """``value > 0`` (learning rates, temperatures, coefficients that divide)."""
    if not _number(name, value, example) > 0:
        raise LeydenConfigError(
            f"{name} must be > 0, got {value}", f"set {name} to a positive number, e.g. {name}: {example}"
        )


def check_non_negative(name: str, value: object, example: float) -> None:
    """``value >= 0`` (weight decay, warmup epochs, loss weights)."""
    if not _number(name, value, example) >= 0:
        raise LeydenConfigError(f"{name} must be >= 0, got {value}", f"e.g. {name}: {example}")


def check_fraction(name: str, value: object, example: float, *, include_one: bool = True) -> None:
    """``0 <= value <= 1`` (or ``< 1``): probabilities, discounts, momenta, dropout rates."""
    number = _number(name, value, example)
    high = "1]" if include_one else "1)"
    if not (0.0 <= number <= 1.0 and (include_one or number < 1.0)):
        raise LeydenConfigError(f"{name} must be in [0, {high}, got {value}", f"e.g. {name}: {example}")


def check_count(name: str, value: object, minimum: int = 1) -> None:
    """An integer ``>= minimum`` (batch sizes, numbers of envs, steps, epochs, neighbours)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise LeydenConfigError(
            f"{name} must be an integer, got {value!r}", f"e.g. {name}: {max(minimum, 1)}"
        )
    if value < minimum:
        raise LeydenConfigError(f"{name} must be at least {minimum}, got {value}", f"set {name} >= {minimum}")


def check_choice(name: str, value: object, choices: tuple[str, ...]) -> None:
    """``value`` is one of ``choices``."""
    if value not in choices:
        raise LeydenConfigError(f"unknown {name} {value!r}", f"use one of {', '.join(map(str, choices))}")


def check_train_batches(num_samples: int, batch_size: int, drop_last: bool, world_size: int = 1) -> None:
    """At least one training batch per process: otherwise a run trains zero steps and exits as if done."""
    per_process = num_samples // world_size
    batches = per_process // batch_size if drop_last else math.ceil(per_process / batch_size)
    if batches == 0:
        where = f" per process ({world_size} processes)" if world_size > 1 else ""
        raise LeydenConfigError(
            f"no training batch: {per_process} training samples{where}, batch_size {batch_size}"
            + (", drop_last true" if drop_last and per_process else ""),
            f"set batch_size <= {max(per_process, 1)}"
            + (" or drop_last: false" if drop_last and per_process else ""),
        )
