"""Automatic Domain Randomization (OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Every parameter range [low, high] starts at its nominal value. On each episode, with
probability ``boundary_prob`` one parameter is pinned at one of its two boundaries (the rest are
sampled uniformly from their ranges); the episode's score goes into that boundary's buffer.
When a buffer holds ``buffer_size`` scores: mean ≥ ``threshold_high`` widens that boundary by
Δ (up to hard limits), mean ≤ ``threshold_low`` narrows it (never past nominal); the buffer is
cleared. Ranges and buffers are plain Python state (``state_dict``) so they are checkpointed.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from leyden_core.errors import LeydenConfigError

MODES = ("scale", "add", "set")


@dataclass(frozen=True)
class ADRParam:
    """One randomized parameter: start value, step Δ, hard limits, and how the value is applied
    to the nominal physics (``scale``: multiplier, ``add``: offset, ``set``: the value itself)."""

    nominal: float = 1.0
    delta: float = 0.05
    limits: tuple[float, float] = (0.0, math.inf)
    mode: str = "scale"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise LeydenConfigError(f"unknown mode {self.mode!r}", f"use one of {MODES}")
        if not self.limits[0] <= self.nominal <= self.limits[1] or self.delta <= 0:
            raise LeydenConfigError(
                f"ADRParam needs limits[0] <= nominal <= limits[1] and delta > 0, got {self}",
                "fix the nominal value, the limits or delta",
            )


Boundary = tuple[str, str]  # (parameter name, "low" | "high")


class ADR:
    """The ADR range controller. ``sample`` draws an episode's values; ``record`` feeds back scores."""

    def __init__(
        self,
        params: dict[str, ADRParam],
        boundary_prob: float = 0.5,
        buffer_size: int = 10,
        threshold_low: float = 0.0,
        threshold_high: float = 1.0,
    ) -> None:
        if not params:
            raise LeydenConfigError("ADR needs at least one parameter", "pass params={'length': ADRParam()}")
        if threshold_low >= threshold_high:
            raise LeydenConfigError(
                f"threshold_low ({threshold_low}) must be below threshold_high ({threshold_high})",
                "e.g. threshold_low: 200, threshold_high: 450 for CartPole returns",
            )
        if not 0.0 <= boundary_prob <= 1.0 or buffer_size < 1:
            raise LeydenConfigError("boundary_prob must be in [0, 1] and buffer_size >= 1", "e.g. 0.5 and 10")
        self.params = dict(params)
        self.boundary_prob, self.buffer_size = boundary_prob, buffer_size
        self.threshold_low, self.threshold_high = threshold_low, threshold_high
        self.low = {name: p.nominal for name, p in self.params.items()}
        self.high = {name: p.nominal for name, p in self.params.items()}
        self.buffers: dict[Boundary, list[float]] = {(n, s): [] for n in self.params for s in ("low", "high")}

    def sample(self, rng: np.random.Generator) -> tuple[dict[str, float], Boundary | None]:
        """One episode's parameter values, and the boundary pinned for evaluation (or None)."""
        values = {name: float(rng.uniform(self.low[name], self.high[name])) for name in self.params}
        boundary = None
        if rng.uniform() < self.boundary_prob:
            names = list(self.params)
            boundary = (names[int(rng.integers(len(names)))], "low" if rng.uniform() < 0.5 else "high")
            values[boundary[0]] = self.value(boundary)
        return values, boundary

    def value(self, boundary: Boundary) -> float:
        name, side = boundary
        return self.low[name] if side == "low" else self.high[name]

    def record(self, boundary: Boundary, score: float) -> str | None:
        """Add an episode's score at a pinned boundary; returns "widen"/"narrow" when the range moved."""
        buffer = self.buffers[boundary]
        buffer.append(float(score))
        if len(buffer) < self.buffer_size:
            return None
        mean = sum(buffer) / len(buffer)
        buffer.clear()
        name, side = boundary
        param = self.params[name]
        step = param.delta if side == "high" else -param.delta  # outward
        if mean >= self.threshold_high:
            self._move(name, side, step, param)
            return "widen"
        if mean <= self.threshold_low:
            self._move(name, side, -step, param)
            return "narrow"
        return None

    def _move(self, name: str, side: str, step: float, param: ADRParam) -> None:
        if side == "high":
            self.high[name] = min(max(self.high[name] + step, param.nominal), param.limits[1])
        else:
            self.low[name] = max(min(self.low[name] + step, param.nominal), param.limits[0])

    def metrics(self) -> dict[str, float]:
        """Ranges for logging: ``adr/<name>/low``, ``.../high``, and the mean range width."""
        out = {}
        for name in self.params:
            out[f"adr/{name}/low"], out[f"adr/{name}/high"] = self.low[name], self.high[name]
        out["adr/mean_width"] = float(np.mean([self.high[n] - self.low[n] for n in self.params]))
        return out

    def state_dict(self) -> dict:
        return {
            "params": {name: asdict(p) for name, p in self.params.items()},
            "low": dict(self.low),
            "high": dict(self.high),
            "buffers": [[name, side, list(scores)] for (name, side), scores in self.buffers.items()],
        }

    def load_state_dict(self, state: dict) -> None:
        if set(state["params"]) != set(self.params):
            raise LeydenConfigError(
                f"checkpoint ADR parameters {sorted(state['params'])} differ from {sorted(self.params)}",
                "resume with the same ADR parameters",
            )
        self.low, self.high = dict(state["low"]), dict(state["high"])
        self.buffers = {(name, side): list(scores) for name, side, scores in state["buffers"]}
