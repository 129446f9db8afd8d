"""The quality gate: an utterance whose recording cannot carry trustworthy prosody gets
``insufficient_quality`` with the reasons, never a number; one that is noisy but usable is
scored and marked low-confidence (``quality.low_confidence`` with the warnings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from avatar.settings import Settings

from workers.prosody.audio import ANALYSIS_RATE
from workers.prosody.features import Tracks
from workers.prosody.snr import wada_snr_db

# Reason code -> what the user reads (Traditional Chinese, short English gloss).
REASONS: dict[str, str] = {
    "empty": "錄音是空的（empty recording）",
    "unreadable": "無法讀取錄音檔（unreadable audio file）",
    "missing_audio": "找不到這句話的錄音檔（stored recording not found）",
    "invalid_samples": "錄音含有無效的數值（NaN or infinite samples）",
    "too_short": "錄音太短，無法分析語調（recording too short）",
    "too_long": "錄音太長，超過單句分析上限（recording too long for one utterance）",
    "silence": "錄音中沒有聲音（silence）",
    "too_little_voice": "有聲段太短，無法可靠分析（too little voiced speech）",
    "low_snr": "背景噪音太大（signal-to-noise ratio too low）",
    "clipping": "錄音音量過大而失真（clipped audio）",
    "octave_jumps": "音高追蹤不穩定，結果不可靠（unreliable pitch tracking）",
}
# Warning code -> what the user reads: the scores are given, but less trustworthy.
WARNINGS: dict[str, str] = {
    "noisy": "背景有些噪音，分數僅供參考（noisy recording: scores are less reliable）",
}


def _setting(name: str) -> float:
    # One source of truth for the defaults a deployment can change: avatar.settings.
    return float(Settings.model_fields[name].default)


# WADA-SNR thresholds (docs/prosody.md, "Quality gate", for the measurements behind them):
# below HARD_FLOOR a refusal; below LOW_CONFIDENCE scores marked low-confidence.
SNR_HARD_FLOOR_DB = _setting("prosody_min_snr_db")
SNR_LOW_CONFIDENCE_DB = _setting("prosody_low_confidence_snr_db")
# A second opinion for the 17-23 dB zone, where WADA-SNR reads white noise at 20 dB and
# dense clean speech alike: noisy only when the recording also has a *noise floor*, i.e. its
# quietest tenth of frames lies within FLOOR_SPREAD_DB of the loud frames and is flat (10th
# minus 1st percentile under FLOOR_FLATNESS_DB: stationary noise varies by about 1 dB from one
# 10 ms frame to the next, while the quietest frames of clean speech without pauses are speech
# sounds, spread over 6 dB or more). Measurements in docs/prosody.md, "Quality gate".
SNR_CONFIRM_DB = 23.0
FLOOR_SPREAD_DB = 26.0
FLOOR_FLATNESS_DB = 4.0


@dataclass(frozen=True)
class QualityLimits:
    min_duration_s: float = 0.5
    max_duration_s: float = _setting("prosody_max_duration_s")
    min_voiced_s: float = _setting("prosody_min_voiced_s")
    min_snr_db: float = SNR_HARD_FLOOR_DB
    low_confidence_snr_db: float = SNR_LOW_CONFIDENCE_DB
    max_clipped_fraction: float = 0.001
    max_octave_jump_rate: float = 0.05
    silence_peak: float = 1e-4  # a peak below -80 dBFS is silence whatever the gain

    @classmethod
    def from_settings(cls, settings: Settings) -> QualityLimits:
        return cls(
            min_voiced_s=settings.prosody_min_voiced_s,
            min_snr_db=settings.prosody_min_snr_db,
            low_confidence_snr_db=max(settings.prosody_min_snr_db, settings.prosody_low_confidence_snr_db),
            max_duration_s=settings.prosody_max_duration_s,
        )


@dataclass
class Quality:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # scored, but less trustworthy

    @property
    def low_confidence(self) -> bool:
        return self.ok and bool(self.warnings)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "status": "ok" if self.ok else "insufficient_quality",
            "reasons": self.reasons,
            "message": "；".join(REASONS[r] for r in self.reasons),
            "low_confidence": self.low_confidence,
            "warnings": self.warnings if self.ok else [],
            "warning_message": "；".join(WARNINGS[w] for w in self.warnings) if self.ok else "",
            "metrics": {k: round(v, 4) for k, v in self.metrics.items()},
        }


def refused(reason: str, **metrics: float) -> Quality:
    return Quality(ok=False, reasons=[reason], metrics=dict(metrics))


def precheck(x: np.ndarray, limits: QualityLimits) -> Quality | None:
    """Checks that need no Praat analysis (and spare it on hopeless input)."""
    duration = x.size / ANALYSIS_RATE
    if duration < limits.min_duration_s:
        return refused("too_short", duration_s=duration)
    if duration > limits.max_duration_s:
        return refused("too_long", duration_s=duration)
    if float(np.max(np.abs(x))) < limits.silence_peak:
        return refused("silence", duration_s=duration)
    return None


def level_spread_db(tr: Tracks) -> float:
    """Loud frames (95th percentile) over quiet ones (10th): the former SNR estimate. Alone it
    reads a continuous clean recording as noisy (no pause to find the floor in); it is used
    only to confirm a noise floor in WADA-SNR's uncertain zone (``gate``)."""
    if tr.intensity_db.size < 10:
        return 0.0
    return float(np.percentile(tr.intensity_db, 95) - np.percentile(tr.intensity_db, 10))


def floor_flatness_db(tr: Tracks) -> float:
    """10th minus 1st percentile of the frame levels: small when the quietest frames are a
    stationary noise floor, large when they are speech sounds or digital silence."""
    if tr.intensity_db.size < 10:
        return 0.0
    return float(np.percentile(tr.intensity_db, 10) - np.percentile(tr.intensity_db, 1))


def clipped_fraction(x: np.ndarray) -> float:
    """Samples sitting at the recording's own extreme in runs of >= 3 (a flat top)."""
    peak = float(np.max(np.abs(x)))
    at_peak = np.abs(x) >= peak * 0.999
    if peak < 0.5:  # far from full scale: nothing was clipped by the converter
        return 0.0
    runs = at_peak[:-2] & at_peak[1:-1] & at_peak[2:]
    return float(np.count_nonzero(runs)) / x.size


def gate(x: np.ndarray, tr: Tracks, features: dict[str, float], limits: QualityLimits) -> Quality:
    metrics = {
        "duration_s": x.size / ANALYSIS_RATE,
        "voiced_s": features["voiced_s"],
        "snr_db": wada_snr_db(x),
        "level_spread_db": level_spread_db(tr),
        "floor_flatness_db": floor_flatness_db(tr),
        "clipped_fraction": clipped_fraction(x),
        "octave_jump_rate": features["octave_jump_rate"],
    }
    reasons = []
    if metrics["voiced_s"] < limits.min_voiced_s:
        reasons.append("too_little_voice")
    if metrics["snr_db"] < limits.min_snr_db:
        reasons.append("low_snr")
    if metrics["clipped_fraction"] > limits.max_clipped_fraction:
        reasons.append("clipping")
    if metrics["octave_jump_rate"] > limits.max_octave_jump_rate:
        reasons.append("octave_jumps")
    warnings = []
    noise_floor = (
        metrics["snr_db"] < SNR_CONFIRM_DB
        and metrics["level_spread_db"] < FLOOR_SPREAD_DB
        and metrics["floor_flatness_db"] < FLOOR_FLATNESS_DB
    )
    if metrics["snr_db"] < limits.low_confidence_snr_db or noise_floor:
        warnings.append("noisy")
    return Quality(ok=not reasons, reasons=reasons, metrics=metrics, warnings=warnings)
