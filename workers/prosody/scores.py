"""Confidence, stability and affability from features: robust z-scores against reference
norms (or the speaker's own earlier utterances), a signed weighted sum, a logistic.

    z_i   = clip((x_i - centre_i) / scale_i, -3, 3)        (|z| for "deviation" terms)
    logit = GAIN * sum_i weight_i * direction_i * z_i      (weights of a score sum to 1)
    score = 100 / (1 + exp(-logit))

Each term is returned as the explanation: its value, reference, z and contribution.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

NORMS_FILE = Path(__file__).with_name("norms.json")
GAIN = 1.5
Z_CLIP = 3.0
MIN_BASELINE = 3  # earlier utterances before the speaker-relative mode takes over
# In the speaker-relative mode a feature's scale is never below this share of the norm's
# scale: three utterances cannot estimate a spread, and a tiny one would blow z up.
SPEAKER_SCALE_FLOOR = 0.5


@dataclass(frozen=True)
class Term:
    feature: str
    weight: float
    direction: int  # +1: more of the feature raises the score; -1: lowers it
    deviation: bool = False  # score |z|: distance from the reference in either direction
    speaker_only: bool = False  # meaningful only against the speaker's own baseline
    excess: bool = False  # count only z > 0 (more than the reference; less is not better)


# Directions from the literature (docs/prosody.md): Scherer 1973, Kimble & Seidel 1991,
# Jiang & Pell 2017, Goupil et al. 2021 (confidence); voice-quality and tremor measures
# (stability); Brown, Strong & Rencher 1974 (affability / benevolence).
SCORES: dict[str, tuple[Term, ...]] = {
    "confidence": (
        Term("speech_rate_sps", 0.20, +1),
        Term("pause_ratio", 0.20, -1),
        Term("long_pauses_per_min", 0.10, -1),
        Term("filled_pauses_per_100_syll", 0.15, -1),
        Term("intensity_range_db", 0.10, +1),
        Term("final_slope_st_per_s", 0.10, -1),
        Term("f0_median_st", 0.15, -1, speaker_only=True),
    ),
    "stability": (
        Term("jitter_rap_steady_pct", 0.25, -1),
        Term("shimmer_apq3_steady_pct", 0.25, -1),
        Term("hnr_periods_db", 0.15, +1),
        Term("f0_tremor_power", 0.15, -1, excess=True),
        Term("amplitude_tremor_power", 0.10, -1, excess=True),
        Term("rate_cv", 0.10, -1),
    ),
    "affability": (
        Term("f0_sd_st", 0.55, +1),
        Term("f0_range_st", 0.45, +1),
    ),
}


@lru_cache(maxsize=1)
def load_norms() -> dict[str, Any]:
    return json.loads(NORMS_FILE.read_text(encoding="utf-8"))


def references(
    baseline: list[dict[str, float]] | None, norms: dict[str, Any] | None = None
) -> tuple[str, dict[str, tuple[float, float]]]:
    """(mode, {feature: (centre, scale)}): the norms, or the speaker's own earlier
    utterances once there are ``MIN_BASELINE`` of them."""
    norms = norms or load_norms()
    table = {name: (float(v["center"]), float(v["scale"])) for name, v in norms["features"].items()}
    if not baseline or len(baseline) < MIN_BASELINE:
        return "norms", table
    own: dict[str, tuple[float, float]] = {}
    for name, (_, scale) in table.items():
        values = np.array([b[name] for b in baseline if name in b], dtype=float)
        if values.size < MIN_BASELINE:
            own[name] = table[name]
            continue
        centre = float(np.median(values))
        mad = 1.4826 * float(np.median(np.abs(values - centre)))
        own[name] = (centre, max(mad, SPEAKER_SCALE_FLOOR * scale))
    return "speaker", own


def _logistic(logit: float) -> float:
    return 100.0 / (1.0 + math.exp(-logit))


def score(
    features: dict[str, float], baseline: list[dict[str, float]] | None = None
) -> tuple[str, dict[str, float], dict[str, list[dict[str, Any]]]]:
    """(mode, scores 0-100, explanation per score: its terms, largest effect first)."""
    mode, refs = references(baseline)
    scores: dict[str, float] = {}
    explanation: dict[str, list[dict[str, Any]]] = {}
    for name, terms in SCORES.items():
        active = [t for t in terms if mode == "speaker" or not t.speaker_only]
        total_weight = sum(t.weight for t in active)
        logit, rows = 0.0, []
        for term in active:
            centre, scale = refs[term.feature]
            value = float(features[term.feature])
            z = max(-Z_CLIP, min(Z_CLIP, (value - centre) / scale))
            signal = abs(z) if term.deviation else (max(z, 0.0) if term.excess else z)
            weight = term.weight / total_weight
            contribution = GAIN * weight * term.direction * signal
            logit += contribution
            rows.append({
                "feature": term.feature, "value": round(value, 4), "reference": round(centre, 4),
                "scale": round(scale, 4), "z": round(z, 3), "weight": round(weight, 3),
                "direction": "deviation" if term.deviation else ("excess" if term.excess else ("+" if term.direction > 0 else "-")),
                "contribution": round(contribution, 4),
            })
        scores[name] = round(_logistic(logit), 1)
        explanation[name] = sorted(rows, key=lambda r: -abs(r["contribution"]))
    return mode, scores, explanation
