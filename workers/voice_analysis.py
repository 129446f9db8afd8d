"""Acoustic measurements of a voice that cloning needs: pitch (median, range, contour),
energy dynamics, a long-term average spectrum (timbre), formants and the resemblyzer
speaker embedding. Pure CPU (parselmouth / numpy / resemblyzer); no weights to download.
The cheap helpers (decoding, energy, trimming) are in :mod:`avatar.audio_io`.

Parselmouth holds the GIL: call these from processes (the ``prosody`` lane's prefork
workers), never from many threads at once. The API process never imports this module's
heavy packages: a voice upload is analysed by a job.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from avatar.audio_io import frame_energy_db, resample

EMBEDDING_SR = 16_000
LTAS_FFT = 1024
LTAS_HOP = 256


def to_semitones(hz: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(np.maximum(hz, 1e-3) / 100.0)


def voiced_f0(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Voiced F0 values (Hz). Two passes: a wide search finds the speaker's median, then
    a search bounded around it avoids octave errors (which would inflate the range)."""
    import parselmouth

    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sample_rate)
    f0 = sound.to_pitch_ac(time_step=0.01, pitch_floor=45.0, pitch_ceiling=600.0).selected_array["frequency"]
    f0 = f0[f0 > 0]
    if len(f0) < 5:
        return f0
    median = float(np.median(f0))
    floor, ceiling = max(40.0, median / 2.0), min(800.0, median * 2.2)
    f0 = sound.to_pitch_ac(time_step=0.01, pitch_floor=floor, pitch_ceiling=ceiling).selected_array["frequency"]
    return f0[f0 > 0]


@dataclass(frozen=True)
class ProsodyProfile:
    """What an expressive sample carries over: pitch level and range, energy dynamics."""

    f0_median_hz: float
    f0_range_st: float  # 10th..90th percentile spread in semitones (lexical tones included)
    f0_sd_st: float
    energy_sd_db: float  # spread of the active frames' energy: loud/soft contrast
    voiced_ratio: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(float(v), 3) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProsodyProfile:
        return cls(**{k: float(data[k]) for k in cls.__dataclass_fields__})


def prosody_profile(samples: np.ndarray, sample_rate: int) -> ProsodyProfile:
    f0 = voiced_f0(samples, sample_rate)
    energy = frame_energy_db(samples, sample_rate)
    active = energy[energy > energy.max() - 40.0] if len(energy) else energy
    if len(f0) < 5:
        return ProsodyProfile(0.0, 0.0, 0.0, float(np.std(active)) if len(active) else 0.0, 0.0)
    st = to_semitones(f0)
    return ProsodyProfile(
        f0_median_hz=float(np.median(f0)),
        f0_range_st=float(np.percentile(st, 90) - np.percentile(st, 10)),
        f0_sd_st=float(np.std(st)),
        energy_sd_db=float(np.std(active)) if len(active) else 0.0,
        voiced_ratio=float(len(f0) * 0.01 / max(len(samples) / sample_rate, 1e-6)),
    )


def ltas_db(samples: np.ndarray, sample_rate: int, n_bins: int = 128) -> np.ndarray:
    """Long-term average spectrum (dB) of the louder frames, on ``n_bins`` bands from 0 to
    Nyquist: the colour of a voice, independent of what was said."""
    x = np.asarray(samples, dtype=np.float64)
    if len(x) < LTAS_FFT:
        x = np.pad(x, (0, LTAS_FFT - len(x)))
    frames = np.lib.stride_tricks.sliding_window_view(x, LTAS_FFT)[::LTAS_HOP] * np.hanning(LTAS_FFT)
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    energy = power.sum(axis=1)
    active = energy >= np.percentile(energy, 30)
    spectrum = power[active].mean(axis=0)
    edges = np.linspace(0, len(spectrum), n_bins + 1).astype(int)
    bands = np.array([spectrum[a:max(b, a + 1)].mean() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return 10.0 * np.log10(bands + 1e-12)


def mean_formants(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """Median F1..F3 (Hz) over the voiced part."""
    import parselmouth
    from parselmouth.praat import call

    sound = parselmouth.Sound(np.asarray(samples, dtype=np.float64), sample_rate)
    formant = sound.to_formant_burg(time_step=0.01, max_number_of_formants=5, maximum_formant=5500.0)
    return np.array([call(formant, "Get quantile", i, 0, 0, "hertz", 0.5) for i in (1, 2, 3)], dtype=float)


# --- speaker embeddings (resemblyzer's 256-dim encoder ships inside its wheel) ------------

_encoder: Any = None
_encoder_lock = threading.Lock()


def _import_resemblyzer() -> Any:
    # Its webrtcvad dependency imports pkg_resources, which warns on every import.
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)
        import resemblyzer
    return resemblyzer


def _voice_encoder() -> Any:
    global _encoder
    with _encoder_lock:
        if _encoder is None:
            VoiceEncoder = _import_resemblyzer().VoiceEncoder  # noqa: N806

            _encoder = VoiceEncoder("cpu", verbose=False)
        return _encoder


def speaker_embedding(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """256-dim, L2-normalised: the cosine similarity of two voices is their dot product."""
    preprocess_wav = _import_resemblyzer().preprocess_wav

    wav = preprocess_wav(resample(samples, sample_rate, EMBEDDING_SR), source_sr=EMBEDDING_SR)
    if len(wav) < EMBEDDING_SR // 2:  # resemblyzer trims silence; too little speech is left
        wav = resample(samples, sample_rate, EMBEDDING_SR).astype(np.float32)
    return np.asarray(_voice_encoder().embed_utterance(wav), dtype=np.float32)


def speaker_similarity(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
