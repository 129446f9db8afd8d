"""The discrete-event loop both simulators run on, and the percentile rule they report with.

A method, not an input about the world: nothing here is a figure of the plan.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable


class Sim:
    """Callbacks run in time order (ties in the order they were scheduled)."""

    def __init__(self, seed: int) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._ids = itertools.count()

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + max(0.0, delay), next(self._ids), fn))

    def run(self, until: float | None = None) -> None:
        """Until ``until`` (the clock then reads ``until``), or until nothing is left to run."""
        while self._queue and (until is None or self._queue[0][0] <= until):
            self.now, _, fn = heapq.heappop(self._queue)
            fn()
        if until is not None:
            self.now = until


def percentile(samples: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, and bench.report's rule)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


__all__ = ["Sim", "percentile"]
