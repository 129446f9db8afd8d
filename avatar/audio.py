"""WAV encoding/decoding helpers shared by engines, tasks and tests."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf


def encode_wav(samples: np.ndarray, sample_rate: int) -> bytes:
    """Mono float samples (-1..1) -> 16-bit PCM WAV bytes (what browsers decode everywhere)."""
    buf = io.BytesIO()
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    sf.write(buf, clipped, sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    samples, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=False)
    if samples.ndim > 1:
        samples = samples.mean(axis=1)
    return samples, int(sr)
