"""Audio in any container the browser or a phone produces (wav, mp3, m4a, ogg, webm, flac)
decoded with PyAV (FFmpeg's libraries inside the wheel), resampled with soxr, trimmed and
loudness-normalised for voice references.

Pure numpy, PyAV and soxr (no model, no torch): the API runs the cheap upload checks with
these, the workers the full preparation of a reference.
"""

from __future__ import annotations

import io

import av
import numpy as np
import soxr


class UndecodableAudio(ValueError):
    """The bytes are not audio FFmpeg can read."""


def resample(samples: np.ndarray, source_sr: int, target_sr: int) -> np.ndarray:
    samples = np.asarray(samples, dtype=np.float32)
    if source_sr == target_sr or len(samples) == 0:
        return samples
    return soxr.resample(samples, source_sr, target_sr).astype(np.float32)


def decode_audio(data: bytes, target_sr: int) -> np.ndarray:
    """Mono float32 samples at ``target_sr`` from any FFmpeg-readable container."""
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise UndecodableAudio("no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=target_sr)
            parts: list[np.ndarray] = []
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    parts.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush
                parts.append(out.to_ndarray().reshape(-1))
    except UndecodableAudio:
        raise
    except Exception as exc:  # av.error.* (InvalidDataError, ...) and container errors
        raise UndecodableAudio(str(exc)) from exc
    if not parts:
        raise UndecodableAudio("no audio frames")
    samples = np.concatenate(parts).astype(np.float32)
    if not np.all(np.isfinite(samples)):
        raise UndecodableAudio("non-finite samples")
    return samples


def frame_energy_db(samples: np.ndarray, sample_rate: int, frame_s: float = 0.025) -> np.ndarray:
    """Energy (dB) of consecutive ``frame_s`` frames; a trailing partial frame is dropped."""
    frame = max(1, int(sample_rate * frame_s))
    usable = len(samples) // frame * frame
    if usable == 0:
        return np.zeros(0)
    frames = np.asarray(samples[:usable], dtype=np.float64).reshape(-1, frame)
    return 10.0 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def active_frames(samples: np.ndarray, sample_rate: int, *, frame_s: float = 0.03, floor_db: float = -45.0,
                  below_peak_db: float = 35.0) -> np.ndarray:
    """Boolean per frame: speech-level energy (above an absolute floor and within
    ``below_peak_db`` of the loudest frame)."""
    energy = frame_energy_db(samples, sample_rate, frame_s)
    if len(energy) == 0:
        return np.zeros(0, dtype=bool)
    return (energy > floor_db) & (energy > energy.max() - below_peak_db)


def trim_silence(samples: np.ndarray, sample_rate: int, *, pad_s: float = 0.1) -> np.ndarray:
    """Leading and trailing silence removed (a little padding kept around the speech)."""
    frame = int(sample_rate * 0.03)
    active = np.flatnonzero(active_frames(samples, sample_rate))
    if len(active) == 0:
        return samples[:0]
    pad = int(pad_s * sample_rate)
    start = max(0, active[0] * frame - pad)
    end = min(len(samples), (active[-1] + 1) * frame + pad)
    return samples[start:end]


def clipped_fraction(samples: np.ndarray) -> float:
    """Share of samples stuck at full scale (runs of 3+ samples at >= 0.99 of the peak range)."""
    at_rail = np.abs(samples) >= 0.99
    if not at_rail.any():
        return 0.0
    # Count only samples inside runs of three or more: a single peak touching 1.0 is fine.
    padded = np.concatenate([[False], at_rail, [False]]).astype(np.int8)
    starts = np.flatnonzero(np.diff(padded) == 1)
    ends = np.flatnonzero(np.diff(padded) == -1)
    runs = ends - starts
    return float(runs[runs >= 3].sum()) / max(1, len(samples))


def normalise_loudness(samples: np.ndarray, sample_rate: int, *, target_dbfs: float = -20.0,
                       peak: float = 0.95) -> np.ndarray:
    """Speech-frame RMS brought to ``target_dbfs`` (a loudness target that ignores pauses),
    never letting the peak exceed ``peak``."""
    frame = int(sample_rate * 0.03)
    mask = active_frames(samples, sample_rate)
    usable = len(mask) * frame
    speech = samples[:usable].reshape(-1, frame)[mask] if mask.any() else samples
    rms = float(np.sqrt(np.mean(np.square(speech, dtype=np.float64)))) or 1e-6
    gain = 10 ** (target_dbfs / 20.0) / rms
    top = float(np.max(np.abs(samples))) * gain
    if top > peak:
        gain *= peak / top
    return (samples * gain).astype(np.float32)
