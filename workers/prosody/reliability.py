"""What a score's number is worth: its test-retest interval, and from the speaker's third
utterance on, the change against their own earlier utterances and whether it exceeds the
noise (the seed's 相對分數 and 重測信度).

The test-retest SD of each score is measured, not chosen: the isolation suite scores four
overlapping 60 % windows of each real recording it has and takes each score's SD across
them; ``retest.json`` holds the median over the recordings (regenerated with the table in
docs/prosody.md: ``python -m tests.workers.prosody.isolation --write docs/prosody.md``).
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

RETEST_FILE = Path(__file__).with_name("retest.json")
Z95 = 1.96  # two-sided 95 % under a normal error
MIN_EARLIER = 2  # earlier scored utterances before a change is reported (the third utterance)


@lru_cache(maxsize=1)
def load_retest() -> dict[str, Any]:
    return json.loads(RETEST_FILE.read_text(encoding="utf-8"))


def retest_sd(name: str) -> float:
    return float(load_retest()["sd"][name])


def intervals(scores: dict[str, float]) -> dict[str, dict[str, float]]:
    """Each score's 95 % test-retest interval, clipped to the 0-100 scale."""
    out = {}
    for name, value in scores.items():
        half = Z95 * retest_sd(name)
        out[name] = {
            "low": round(max(0.0, value - half), 1), "high": round(min(100.0, value + half), 1),
            "half_width": round(half, 1), "retest_sd": round(retest_sd(name), 2),
        }
    return out


def relative_change(scores: dict[str, float], earlier: list[dict[str, float]]) -> dict[str, Any] | None:
    """The change of each score against the median of the speaker's earlier scores (the
    same references as ``scores``), or None before the third utterance.

    The change exceeds the noise when it is larger than the 95 % bound of the difference
    between one utterance and the median of ``n`` others: ``1.96 * sd * sqrt(1 + 1/n)``
    (the median's own error taken as a mean's, a slight understatement for small n).
    """
    if len(earlier) < MIN_EARLIER:
        return None
    n = len(earlier)
    changes: dict[str, Any] = {}
    for name, value in scores.items():
        baseline = float(np.median([e[name] for e in earlier]))
        threshold = Z95 * retest_sd(name) * math.sqrt(1.0 + 1.0 / n)
        change = value - baseline
        changes[name] = {
            "baseline": round(baseline, 1), "change": round(change, 1),
            "threshold": round(threshold, 1), "exceeds_noise": abs(change) > threshold,
        }
    return {"earlier_utterances": n, "scores": changes}
