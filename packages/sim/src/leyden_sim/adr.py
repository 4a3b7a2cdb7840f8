"""Automatic Domain Randomization (OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand").

Every parameter range [low, high] starts at its nominal value. On each episode, with
probability ``boundary_prob`` one parameter is pinned at one of its two boundaries (the rest are
sampled uniformly from their ranges); the episode's score goes into that boundary's buffer.
When a buffer holds ``buffer_size`` scores: mean ≥ ``threshold_high`` widens that boundary by
Δ (up to hard limits), mean ≤ ``threshold_low`` narrows it (never past nominal); the buffer is
cleared. Ranges and buffers are plain Python state (``state_dict``) so they are checkpointed.

Several environments share one controller (a vector env), so an episode may still be running at a
boundary value that another environment's decision has since moved. Its score says nothing about
the new boundary: :meth:`ADR.record` drops it when told the value the episode ran at (counted as
``adr/stale``). Without that, scores of the easier old boundary leak into the new one's buffer.

How fast ranges can grow is set by the episode budget: a boundary gets one decision per
``2 · len(params) · buffer_size / boundary_prob`` episodes, so a run of E episodes moves a
boundary at most ``E · boundary_prob / (2 · len(params) · buffer_size)`` times by Δ. Choose Δ and
``buffer_size`` so that this reaches the extent you want with budget left to train there. Ranges
follow the learner's current score: with a learner whose returns dip for a while (PPO on CartPole
does), ``threshold_low`` decides whether a dip undoes the ranges grown before it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from leyden_core.errors import LeydenConfigError

MODES = ("scale", "add", "set")
DECISIONS = ("widen", "narrow", "hold")


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
        *,
        threshold_low: float,
        threshold_high: float,
    ) -> None:
        """``threshold_low`` / ``threshold_high`` are in the units of the score (an episode's return):
        no default fits every task, so they are required (e.g. 40% / 80% of the best return)."""
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
        self.counts = dict.fromkeys(DECISIONS + ("stale",), 0)
        self.last_score: dict[Boundary, float] = {}  # each boundary's latest buffer mean

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

    def record(self, boundary: Boundary, score: float, value: float | None = None) -> str | None:
        """Add an episode's score at a pinned boundary; returns "widen"/"narrow" when the range moved.

        ``value``: the boundary value the episode ran at (``self.value(boundary)`` when it was
        sampled). A score whose value is no longer the boundary's is dropped (stale).
        """
        if value is not None and not math.isclose(value, self.value(boundary), rel_tol=1e-9, abs_tol=1e-12):
            self.counts["stale"] += 1
            return None
        buffer = self.buffers[boundary]
        buffer.append(float(score))
        if len(buffer) < self.buffer_size:
            return None
        mean = sum(buffer) / len(buffer)
        buffer.clear()
        self.last_score[boundary] = mean
        name, side = boundary
        param = self.params[name]
        step = param.delta if side == "high" else -param.delta  # outward
        decision = (
            "widen" if mean >= self.threshold_high else "narrow" if mean <= self.threshold_low else "hold"
        )
        self.counts[decision] += 1
        if decision == "hold":
            return None
        self._move(name, side, step if decision == "widen" else -step, param)
        return decision

    def _move(self, name: str, side: str, step: float, param: ADRParam) -> None:
        if side == "high":
            self.high[name] = min(max(self.high[name] + step, param.nominal), param.limits[1])
        else:
            self.low[name] = max(min(self.low[name] + step, param.nominal), param.limits[0])

    def metrics(self) -> dict[str, float]:
        """For logging: ranges ``adr/<name>/low`` and ``.../high``, the mean range width, each boundary's
        latest buffer mean ``adr/<name>/<side>_score`` (compare it with the thresholds to see why a
        range does not move), and counts of decisions ``adr/widen``, ``adr/narrow``, ``adr/hold`` and
        of dropped ``adr/stale`` scores."""
        out = {}
        for name in self.params:
            out[f"adr/{name}/low"], out[f"adr/{name}/high"] = self.low[name], self.high[name]
        out["adr/mean_width"] = float(np.mean([self.high[n] - self.low[n] for n in self.params]))
        out |= {f"adr/{name}/{side}_score": score for (name, side), score in self.last_score.items()}
        out |= {f"adr/{key}": float(count) for key, count in self.counts.items()}
        return out

    def state_dict(self) -> dict:
        return {
            "params": {name: asdict(p) for name, p in self.params.items()},
            "low": dict(self.low),
            "high": dict(self.high),
            "buffers": [[name, side, list(scores)] for (name, side), scores in self.buffers.items()],
            "counts": dict(self.counts),
            "last_score": [[name, side, score] for (name, side), score in self.last_score.items()],
        }

    def load_state_dict(self, state: dict) -> None:
        if set(state["params"]) != set(self.params):
            raise LeydenConfigError(
                f"checkpoint ADR parameters {sorted(state['params'])} differ from {sorted(self.params)}",
                "resume with the same ADR parameters",
            )
        self.low, self.high = dict(state["low"]), dict(state["high"])
        self.buffers = {(name, side): list(scores) for name, side, scores in state["buffers"]}
        self.counts |= state.get("counts", {})
        self.last_score = {(name, side): score for name, side, score in state.get("last_score", [])}
