"""Acoustic features of one utterance: Praat (through parselmouth) and openSMILE eGeMAPSv02.

Every Praat feature here is independent of the recording's gain (levels are measured
relative to the utterance's own loudest frames), except ``intensity_mean_db``, which is
reported but never scored: a microphone's gain is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.signal import butter, find_peaks, sosfiltfilt

from workers.prosody import steadiness
from workers.prosody.steadiness import runs as _runs
from workers.prosody.tremor import tremor_features
from workers.prosody.audio import ANALYSIS_RATE
from workers.prosody.transcript import count_filled_pauses, count_syllables

PITCH_FLOOR_HZ = 75.0
PITCH_CEILING_HZ = 600.0
FRAME_S = 0.01
SILENCE_BELOW_PEAK_DB = 25.0  # de Jong & Wempe: frames 25 dB under the loud ones are silence
MIN_PAUSE_S = 0.2
LONG_PAUSE_S = 0.6
OCTAVE_JUMP_ST = 8.0  # a frame-to-frame F0 step this large is a tracking error, not speech
TREMOR_BAND_HZ = (4.0, 8.0)
MIN_VOICED_FRAMES_FOR_RANGE = 30
MIN_SOUNDING_FRAMES = 10
RHYTHM_GAP_FACTOR = 2.5  # a nucleus interval over 2.5 x the median one spans a pause


@dataclass
class Tracks:
    """The frame tracks the features and the quality gate share (10 ms frames)."""

    f0_hz: np.ndarray  # 0 where unvoiced
    intensity_db: np.ndarray
    speech: np.ndarray  # bool: frame is above the silence threshold
    duration_s: float
    pitch: Any = None  # the Praat Pitch object, reused for the glottal pulses


def speaker_pitch_range(snd: parselmouth.Sound) -> tuple[float, float]:
    """The speaker's own F0 search range, by the two-pass method of De Looze & Hirst (2008):
    a first pass over 75-600 Hz, then floor 0.75 x the first quartile and ceiling 1.5 x the
    third. A fixed wide range lets octave errors through (a 112 Hz voice read 487 Hz at its
    99th percentile), and they, not the melody, then decided the F0 spread."""
    first = snd.to_pitch(time_step=FRAME_S, pitch_floor=PITCH_FLOOR_HZ, pitch_ceiling=PITCH_CEILING_HZ)
    voiced = first.selected_array["frequency"]
    voiced = voiced[voiced > 0]
    if voiced.size < MIN_VOICED_FRAMES_FOR_RANGE:
        return PITCH_FLOOR_HZ, PITCH_CEILING_HZ
    q1, q3 = np.percentile(voiced, [25, 75])
    return float(np.clip(0.75 * q1, 50.0, 150.0)), float(np.clip(1.5 * q3, 250.0, 800.0))


def _sounding(loud_enough: np.ndarray) -> np.ndarray:
    """Speech frames: runs above the silence threshold of at least MIN_SOUNDING_FRAMES (Praat's
    "To TextGrid (silences)" default minimum sounding interval, 0.1 s). A click or a breath of
    one or two frames is not speech: one such frame before a long silence made the silence
    a pause inside the utterance, or not, from one manipulation to the next."""
    speech = np.zeros_like(loud_enough)
    for start, end in _runs(loud_enough):
        if end - start >= MIN_SOUNDING_FRAMES:
            speech[start:end] = True
    return speech if speech.any() else loud_enough


def tracks(snd: parselmouth.Sound) -> Tracks:
    floor, ceiling = speaker_pitch_range(snd)
    pitch = snd.to_pitch(time_step=FRAME_S, pitch_floor=floor, pitch_ceiling=ceiling)
    f0 = np.nan_to_num(pitch.selected_array["frequency"])
    intensity = snd.to_intensity(minimum_pitch=PITCH_FLOOR_HZ, time_step=FRAME_S)
    # Map the intensity frames onto the pitch frames' times (both 10 ms, offsets differ);
    # digital silence reads as -300 dB in Praat: floor it.
    level = np.maximum(np.interp(pitch.xs(), intensity.xs(), intensity.values[0]), -100.0)
    loud = np.percentile(level, 95) if level.size else 0.0
    speech = _sounding(level >= loud - SILENCE_BELOW_PEAK_DB)
    return Tracks(f0_hz=f0, intensity_db=level, speech=speech, duration_s=snd.duration, pitch=pitch)


def _semitones(hz: np.ndarray) -> np.ndarray:
    return 12.0 * np.log2(hz / 100.0)  # re 100 Hz


# The final contour is a syllable's: the last voiced stretch of at least a syllable's length.
# With 50 ms allowed, the last stretch of the main story voice was a 50 ms voiced fragment at
# the very end: the slope of its five frames read -45 st/s on the control and +21 st/s at tempo x1.3, and
# moved confidence more than the tempo did (issue 19).
MIN_FINAL_STRETCH_FRAMES = 10


def _final_slope(f0: np.ndarray) -> float:
    """Slope (semitones/s) of the last 300 ms of the last voiced stretch of at least
    MIN_FINAL_STRETCH_FRAMES: > 0 is a final rise."""
    runs = [r for r in _runs(f0 > 0) if r[1] - r[0] >= MIN_FINAL_STRETCH_FRAMES]
    if not runs:
        return 0.0
    start, end = runs[-1]
    start = max(start, end - 30)
    st = _semitones(f0[start:end])
    t = np.arange(st.size) * FRAME_S
    return float(np.polyfit(t, st, 1)[0])


def _tremor(f0: np.ndarray) -> float:
    """RMS (semitones) of the 4-8 Hz modulation of F0 inside voiced stretches of >= 0.4 s."""
    sos = butter(2, TREMOR_BAND_HZ, btype="bandpass", fs=1.0 / FRAME_S, output="sos")
    energy, frames = 0.0, 0
    for start, end in _runs(f0 > 0):
        if end - start < 40:
            continue
        st = _semitones(f0[start:end])
        band = sosfiltfilt(sos, st - st.mean(), padlen=min(end - start - 1, 27))
        edge = 5  # the filter's start-up at each end of a stretch is not tremor
        energy += float(np.sum(band[edge:-edge] ** 2))
        frames += band.size - 2 * edge
    return float(np.sqrt(energy / frames)) if frames else 0.0


def _syllable_nuclei(tr: Tracks) -> np.ndarray:
    """Frame indices of syllable nuclei (de Jong & Wempe): intensity peaks standing >= 2 dB
    above their surroundings, in speech, and voiced."""
    peaks, _ = find_peaks(tr.intensity_db, prominence=2.0, distance=5)
    return np.array([p for p in peaks if tr.speech[p] and tr.f0_hz[p] > 0], dtype=int)


def _speech_only(snd: parselmouth.Sound, speech: np.ndarray) -> parselmouth.Sound:
    """The utterance with its silent frames cut out (for CPPS, which pauses would lower)."""
    x = snd.values[0]
    hop = int(FRAME_S * ANALYSIS_RATE)
    keep = np.repeat(speech, hop)[: x.size]
    kept = x[: keep.size][keep]
    return parselmouth.Sound(kept if kept.size >= hop * 10 else x, sampling_frequency=ANALYSIS_RATE)


def praat_features(x: np.ndarray, transcript: str = "") -> tuple[dict[str, float], Tracks]:
    snd = parselmouth.Sound(x, sampling_frequency=ANALYSIS_RATE)
    tr = tracks(snd)
    f0 = tr.f0_hz
    voiced = f0[f0 > 0]
    st = _semitones(voiced) if voiced.size else np.zeros(1)

    # Pauses: silent runs inside the span from the first to the last speech frame.
    speech_idx = np.flatnonzero(tr.speech)
    first, last = (speech_idx[0], speech_idx[-1] + 1) if speech_idx.size else (0, 0)
    span_s = max((last - first) * FRAME_S, FRAME_S)
    pauses = [
        (e - s) * FRAME_S for s, e in _runs(~tr.speech[first:last]) if (e - s) * FRAME_S >= MIN_PAUSE_S
    ]
    pause_s = float(sum(pauses))
    phonation_s = max(span_s - pause_s, FRAME_S)

    nuclei = _syllable_nuclei(tr)
    syllables = count_syllables(transcript)
    syllable_source = "transcript" if syllables else "nuclei"
    if not syllables:
        syllables = int(nuclei.size)
    gaps = np.diff(nuclei) * FRAME_S
    # Intervals across a pause are not rhythm. The cut is relative to the speaker's own
    # median interval, so that a uniform change of rate (every interval x k) leaves the
    # coefficient of variation alone: only irregularity moves it (issue 19).
    if gaps.size:
        gaps = gaps[gaps < RHYTHM_GAP_FACTOR * np.median(gaps)]
    rate_cv = float(gaps.std() / gaps.mean()) if gaps.size >= 3 else 0.0

    # The speaker's own floor (Hirst's 0.75 x low quantile) for the harmonicity: shorter
    # analysis windows for higher voices, faster and fewer subharmonic errors.
    floor = float(np.clip(0.75 * np.percentile(voiced, 5), PITCH_FLOOR_HZ, 150.0)) if voiced.size else PITCH_FLOOR_HZ
    pp = call([snd, tr.pitch], "To PointProcess (cc)")  # glottal pulses from the pitch above
    jitter = call(pp, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3)
    shimmer = call([snd, pp], "Get shimmer (local_dB)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
    # The scored perturbation measures compare each period (amplitude) with the mean of its
    # neighbours (RAP, APQ3): a steady glide of intonation, which raises the local measures
    # (monotone speech read as 0.4-1.3 points of local jitter steadier), cancels out.
    jitter_rap = call(pp, "Get jitter (rap)", 0, 0, 0.0001, 0.02, 1.3)
    shimmer_apq3 = call([snd, pp], "Get shimmer (apq3)", 0, 0, 0.0001, 0.02, 1.3, 1.6)
    speech_only = _speech_only(snd, tr.speech)
    harmonicity = call(speech_only, "To Harmonicity (cc)", 0.02, floor, 0.1, 1.0)
    hnr = call(harmonicity, "Get mean", 0, 0)
    cepstrogram = call(speech_only, "To PowerCepstrogram", 60, 0.02, 5000, 50)
    cpps = call(cepstrogram, "Get CPPS", "yes", 0.02, 0.0005, 60, 330, 0.05, "Parabolic", 0.001, 0, "Straight", "Robust")
    # The scored voice-quality measures: the same ones on the steady stretches only.
    frame_times = tr.pitch.xs()
    steady = steadiness.steady_mask(f0, tr.intensity_db)
    pulse_times = call(pp, "To Matrix").values[0] if call(pp, "Get number of points") else np.zeros(0)
    steady_measures = {
        **steadiness.perturbation(snd.values[0], pulse_times, steady, frame_times),
        **steadiness.harmonicity(snd, steady, frame_times, floor),
    }

    loud = tr.intensity_db[tr.speech] if tr.speech.any() else tr.intensity_db
    pairs = (f0[1:] > 0) & (f0[:-1] > 0)
    jumps = np.abs(np.diff(_semitones(np.where(f0 > 0, f0, 1.0))))[pairs] > OCTAVE_JUMP_ST
    filled = count_filled_pauses(transcript)

    def finite(v: Any, default: float = 0.0) -> float:
        v = float(v) if v is not None else default
        return v if np.isfinite(v) else default

    features = {
        "duration_s": tr.duration_s,
        "speech_span_s": span_s,
        "voiced_s": float(voiced.size * FRAME_S),
        "f0_median_hz": float(np.median(voiced)) if voiced.size else 0.0,
        "f0_median_st": float(np.median(st)),
        "f0_sd_st": float(np.std(st)),
        "f0_range_st": float(np.percentile(st, 95) - np.percentile(st, 5)),
        "jitter_local_pct": finite(jitter) * 100.0,
        "shimmer_local_db": finite(shimmer),
        "jitter_rap_pct": finite(jitter_rap) * 100.0,
        "shimmer_apq3_pct": finite(shimmer_apq3) * 100.0,
        "hnr_db": finite(hnr),
        "cpps_db": finite(cpps),
        "intensity_mean_db": float(np.mean(loud)),
        "intensity_range_db": float(np.percentile(loud, 95) - np.percentile(loud, 5)),
        "syllables": float(syllables),
        "speech_rate_sps": syllables / span_s,
        "articulation_rate_sps": syllables / phonation_s,
        "rate_cv": rate_cv,
        "pause_ratio": pause_s / span_s,
        "pause_mean_s": pause_s / len(pauses) if pauses else 0.0,
        "long_pauses_per_min": sum(p >= LONG_PAUSE_S for p in pauses) * 60.0 / span_s,
        "final_slope_st_per_s": _final_slope(f0),
        "tremor_st": _tremor(f0),
        "filled_pauses": float(filled),
        "filled_pauses_per_100_syll": 100.0 * filled / syllables if syllables else 0.0,
        "octave_jump_rate": float(jumps.mean()) if jumps.size else 0.0,
        **{name: finite(value) for name, value in steady_measures.items()},
        **tremor_features(f0, tr.intensity_db, FRAME_S),
    }
    features["syllable_source"] = syllable_source  # type: ignore[assignment]
    return features, tr


@lru_cache(maxsize=1)
def _smile() -> Any:
    import opensmile  # research / non-commercial licence: see docs/prosody.md

    return opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )


def egemaps_features(x: np.ndarray) -> dict[str, float]:
    """All 88 eGeMAPSv02 functionals (one Smile object per process)."""
    frame = _smile().process_signal(x.astype(np.float32), ANALYSIS_RATE)
    return {name: float(value) for name, value in frame.iloc[0].items()}


def warm_up() -> None:
    """Load openSMILE and Praat once (a worker process does this before its first job)."""
    x = np.sin(2 * np.pi * 150 * np.arange(ANALYSIS_RATE) / ANALYSIS_RATE) * 0.1
    egemaps_features(x)
    praat_features(x)
