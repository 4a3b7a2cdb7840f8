"""User-facing configuration errors: a short message naming the problem and the fix."""

from __future__ import annotations


class LeydenConfigError(ValueError):
    """Bad user input. The CLI prints it in a few lines instead of a traceback."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(f"{problem}\n  fix: {fix}")
        self.problem = problem
        self.fix = fix
