"""Bring any input to what the analysis expects: finite mono float64 samples at 16 kHz."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample_poly

from avatar.audio import decode_wav

ANALYSIS_RATE = 16000


class InvalidAudio(ValueError):
    """Audio that cannot be analysed at all; ``reason`` is a stable code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def decode(data: bytes) -> tuple[np.ndarray, int]:
    try:
        return decode_wav(data)
    except Exception as exc:  # soundfile raises its own error types for every malformed file
        raise InvalidAudio("unreadable", f"not a readable WAV file: {exc}") from exc


def prepare(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono, 16 kHz, float64; refuses empty input and non-finite samples."""
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim > 1:
        x = x.mean(axis=1)
    if x.size == 0:
        raise InvalidAudio("empty", "the recording has no samples")
    if not np.all(np.isfinite(x)):
        raise InvalidAudio("invalid_samples", "the recording contains NaN or infinite samples")
    if sample_rate <= 0:
        raise InvalidAudio("unreadable", f"invalid sample rate {sample_rate}")
    if sample_rate != ANALYSIS_RATE:
        g = np.gcd(int(sample_rate), ANALYSIS_RATE)
        x = resample_poly(x, ANALYSIS_RATE // g, int(sample_rate) // g)
    return x
