"""One utterance in, one report out: quality gate, features, scores, explanation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.engines.emotion.base import EmotionEngine
from workers.prosody.audio import InvalidAudio, decode, prepare
from workers.prosody.features import egemaps_features, praat_features
from workers.prosody.quality import Quality, QualityLimits, gate, precheck, refused
from workers.prosody.reliability import intervals, relative_change
from workers.prosody.scores import SCORES, load_norms, score
from workers.prosody.second_opinion import second_opinion


@dataclass
class ProsodyReport:
    quality: Quality
    mode: str = "norms"  # "norms" or "speaker" (the speaker's earlier utterances)
    scores: dict[str, float] | None = None  # None when the quality gate refused
    explanation: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    interval: dict[str, dict[str, float]] | None = None  # each score's test-retest interval
    relative: dict[str, Any] | None = None  # change against the speaker's earlier utterances
    learned: dict[str, Any] | None = None  # the optional emotion model's opinion, never a score
    praat: dict[str, Any] = field(default_factory=dict)
    egemaps: dict[str, float] = field(default_factory=dict)
    analysis_ms: float = 0.0

    @property
    def status(self) -> str:
        return "ok" if self.quality.ok else "insufficient_quality"

    def features(self) -> dict[str, Any]:
        """What the ``prosody_scores.features`` column holds (JSON)."""
        return {
            "status": self.status, "quality": self.quality.as_dict(), "mode": self.mode,
            "explanation": self.explanation, "interval": self.interval, "relative": self.relative,
            "learned": self.learned, "praat": self.praat, "egemaps": self.egemaps,
            "norms_version": load_norms()["version"], "analysis_ms": round(self.analysis_ms, 1),
        }


def _finite(features: dict[str, Any]) -> dict[str, Any]:
    # JSON has no NaN: openSMILE yields NaN for some functionals of very short voicing.
    return {
        k: (float(v) if np.isfinite(v) else None) if isinstance(v, (int, float)) else v
        for k, v in features.items()
    }


def _scorable(features: dict[str, Any]) -> bool:
    """An earlier utterance's stored features hold every scored one (a row analysed by an
    older version may lack a newer feature, and NaN is stored as null)."""
    return all(isinstance(features.get(t.feature), (int, float)) for terms in SCORES.values() for t in terms)


def analyze(
    samples: np.ndarray,
    sample_rate: int,
    transcript: str = "",
    baseline: list[dict[str, float]] | None = None,
    limits: QualityLimits | None = None,
    emotion: EmotionEngine | None = None,
) -> ProsodyReport:
    """Analyse one utterance. Never raises on bad audio: the report says why instead.

    ``baseline`` holds the Praat features of the speaker's earlier utterances (same
    session); with three or more the scores become speaker-relative, and from two on the
    report carries each score's change against them (``relative``). ``emotion``, when given,
    adds its opinion (``learned``) beside the scores of an accepted utterance.
    """
    started = time.perf_counter()
    limits = limits or QualityLimits()
    try:
        x = prepare(samples, sample_rate)
    except InvalidAudio as exc:
        return ProsodyReport(quality=refused(exc.reason))
    early = precheck(x, limits)
    if early is not None:
        return ProsodyReport(quality=early, analysis_ms=(time.perf_counter() - started) * 1000)
    praat, tracks = praat_features(x, transcript)
    praat = _finite(praat)
    quality = gate(x, tracks, praat, limits)
    report = ProsodyReport(quality=quality, praat=praat, egemaps=_finite(egemaps_features(x)))
    if quality.ok:
        report.mode, report.scores, report.explanation = score(praat, baseline)
        report.interval = intervals(report.scores)
        # The earlier utterances rescored against the same references as this one: the
        # first three were scored against the norms when they arrived, later ones against
        # the speaker, and a change across two reference frames would mean nothing.
        earlier = [score(features, baseline)[1] for features in baseline or [] if _scorable(features)]
        report.relative = relative_change(report.scores, earlier)
        if emotion is not None:
            report.learned = second_opinion(emotion, x)
    report.analysis_ms = (time.perf_counter() - started) * 1000
    return report


def analyze_wav(data: bytes, transcript: str = "", **kwargs: Any) -> ProsodyReport:
    try:
        samples, rate = decode(data)
    except InvalidAudio as exc:
        return ProsodyReport(quality=refused(exc.reason))
    return analyze(samples, rate, transcript, **kwargs)
