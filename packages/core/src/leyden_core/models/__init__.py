"""Models that ship with core: a supervised baseline used by demos, tests and benchmarks."""

from leyden_core.models.classifier import ImageClassifier

__all__ = ["ImageClassifier"]
