"""Voice steadiness measured where the voice is steady: the perturbation, harmonicity and
cepstral measures of the stability score, computed on the loud, sustained voiced stretches
of an utterance (its vowel nuclei), not on every voiced frame.

Why (issue 19): measured over the whole utterance, these measures followed the intonation,
the tempo and the noise floor instead of the voice. Voicing onsets and offsets (where
periods and amplitudes change fast whatever the speaker's steadiness), weak voiced
consonants (where a noise floor 20-30 dB below the speech swamps the harmonics) and the
pitch-tracking edges of each stretch all count in a whole-utterance measure, and how many
of them an utterance has depends on its melody and rate. Clinical voice measures are taken
on sustained vowels for the same reason (Titze 1995).

- **Steady frames**: the syllable nuclei. Voiced frames within ``BELOW_LOCAL_PEAK_DB`` of the
  level peak of their own +-150 ms (so each syllable contributes its nucleus, whatever the
  loudness of the rest of the utterance: a threshold relative to the whole utterance's loud
  level let a quieter stretch contribute its weak, noisier frames, and a 60 % window of the
  espeak-ng recording read 1.6 points of shimmer more than the window beside it), that are
  speech (within 25 dB of the loud level), in voiced runs of at least ``MIN_RUN_FRAMES``,
  less ``EDGE_FRAMES`` at each end of a run. The selection uses levels only, never the F0
  contour, so it does not change when the melody does; and levels relative to the
  utterance's own, so not with the gain.
- **Jitter (RAP) and shimmer (APQ3)**, Praat's definitions (each period, or each period's
  peak-to-peak amplitude, against the mean of itself and its two neighbours, over the mean),
  on the glottal periods whose both pulses fall in steady frames, with Praat's period limits
  (0.1-20 ms, neighbouring periods within a factor 1.3).
- **HNR from consecutive periods** (``period_hnr``, Yumoto et al. 1982), the scored one; and,
  reported only, Praat's cross-correlation HNR averaged over the steady frames and CPPS of
  the steady stretches joined together (both still follow the melody: see ``period_hnr``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import parselmouth
from parselmouth.praat import call
from scipy.ndimage import maximum_filter1d

from workers.prosody.audio import ANALYSIS_RATE

BELOW_LOCAL_PEAK_DB = 6.0  # a syllable's nucleus: within 6 dB of its own peak
LOCAL_PEAK_FRAMES = 31  # the peak of the surrounding +-150 ms (about one syllable)
SPEECH_BELOW_LOUD_DB = 25.0  # and speech at all (features.py's silence threshold)
MIN_RUN_FRAMES = 6  # 60 ms: shorter voiced stretches are transitions, not nuclei
EDGE_FRAMES = 2  # 20 ms trimmed at each end of a stretch (onset and offset)
MIN_PERIOD_S, MAX_PERIOD_S, MAX_PERIOD_FACTOR = 0.0001, 0.02, 1.3  # Praat's jitter defaults


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of the True runs of ``mask``."""
    padded = np.concatenate([[False], mask.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def steady_mask(f0_hz: np.ndarray, level_db: np.ndarray) -> np.ndarray:
    loud = np.percentile(level_db, 95) if level_db.size else 0.0
    local_peak = maximum_filter1d(level_db, size=LOCAL_PEAK_FRAMES, mode="nearest")
    candidate = (
        (f0_hz > 0)
        & (level_db >= local_peak - BELOW_LOCAL_PEAK_DB)
        & (level_db >= loud - SPEECH_BELOW_LOUD_DB)
    )
    steady = np.zeros_like(candidate)
    for start, end in runs(candidate):
        if end - start >= MIN_RUN_FRAMES:
            steady[start + EDGE_FRAMES : end - EDGE_FRAMES] = True
    return steady


def _perturbation_quotient(values: np.ndarray, usable: np.ndarray) -> float:
    """Praat's RAP / APQ3 form: mean |v_i - mean(v_i-1, v_i, v_i+1)| / mean(v), over the
    triples whose three members are usable."""
    if values.size < 3:
        return float("nan")
    triple = usable[:-2] & usable[1:-1] & usable[2:]
    if np.count_nonzero(triple) < 5:
        return float("nan")
    mid = values[1:-1]
    deviation = np.abs(mid - (values[:-2] + mid + values[2:]) / 3.0)[triple]
    used = np.zeros(values.size, dtype=bool)
    for shift in range(3):
        used[shift : shift + triple.size] |= triple
    return float(deviation.mean() / values[used].mean())


def _frame_of(times: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """The index of the 10 ms analysis frame each time falls in."""
    step = float(frame_times[1] - frame_times[0]) if frame_times.size > 1 else 0.01
    return np.clip(np.round((times - frame_times[0]) / step).astype(int), 0, max(frame_times.size - 1, 0))


def perturbation(x: np.ndarray, pulse_times: np.ndarray, steady: np.ndarray, frame_times: np.ndarray) -> dict[str, float]:
    """Jitter (RAP) and shimmer (APQ3), in percent, of the periods inside steady frames."""
    t = np.asarray(pulse_times, dtype=float)
    if t.size < 4:
        return {"hnr_periods_db": float("nan"), "jitter_rap_steady_pct": float("nan"),
                "shimmer_apq3_steady_pct": float("nan"), "steady_periods": 0.0}
    periods = np.diff(t)
    frames = _frame_of(t, frame_times)
    inside = steady[frames[:-1]] & steady[frames[1:]]
    valid = inside & (periods >= MIN_PERIOD_S) & (periods <= MAX_PERIOD_S)
    ratio_ok = np.ones_like(valid)
    ratio = periods[1:] / periods[:-1]
    smooth = (ratio <= MAX_PERIOD_FACTOR) & (ratio >= 1.0 / MAX_PERIOD_FACTOR)
    ratio_ok[1:] &= smooth
    ratio_ok[:-1] &= smooth
    usable = valid & ratio_ok
    samples = np.round(t * ANALYSIS_RATE).astype(int)
    amplitude = np.array([
        float(np.ptp(x[a:b])) if b > a else 0.0 for a, b in zip(samples[:-1], samples[1:])
    ])
    usable_amp = usable & (amplitude > 0)
    return {
        "hnr_periods_db": period_hnr(x, t, usable),
        "jitter_rap_steady_pct": 100.0 * _perturbation_quotient(periods, usable),
        "shimmer_apq3_steady_pct": 100.0 * _perturbation_quotient(amplitude, usable_amp),
        "steady_periods": float(np.count_nonzero(usable)),
    }


def _joined(x: np.ndarray, steady: np.ndarray, frame_times: np.ndarray, frame_s: float) -> parselmouth.Sound | None:
    hop = int(round(frame_s * ANALYSIS_RATE))
    first = int(round((frame_times[0] - frame_s / 2) * ANALYSIS_RATE)) if frame_times.size else 0
    pieces = [x[max(first + start * hop, 0) : first + end * hop] for start, end in runs(steady)]
    kept = np.concatenate(pieces) if pieces else np.zeros(0)
    if kept.size < 10 * hop:
        return None
    return parselmouth.Sound(kept, sampling_frequency=ANALYSIS_RATE)


def harmonicity(snd: parselmouth.Sound, steady: np.ndarray, frame_times: np.ndarray, floor_hz: float) -> dict[str, Any]:
    """HNR over the steady frames and CPPS of the steady stretches joined together."""
    frame_s = float(frame_times[1] - frame_times[0]) if frame_times.size > 1 else 0.01
    hnr = float("nan")
    harm = call(snd, "To Harmonicity (cc)", frame_s, floor_hz, 0.1, 1.0)
    values = np.interp(frame_times, harm.xs(), harm.values[0])
    chosen = values[steady & (values > -199.0)]
    if chosen.size:
        hnr = float(chosen.mean())
    cpps = float("nan")
    joined = _joined(snd.values[0], steady, frame_times, frame_s)
    if joined is not None:
        cepstrogram = call(joined, "To PowerCepstrogram", 60, 0.02, 5000, 50)
        cpps = call(cepstrogram, "Get CPPS", "yes", 0.02, 0.0005, 60, 330, 0.05, "Parabolic", 0.001, 0, "Straight", "Robust")
    return {"hnr_steady_db": hnr, "cpps_steady_db": float(cpps), "steady_s": float(np.count_nonzero(steady) * frame_s)}


PERIOD_POINTS = 64  # each glottal period resampled to this many points


def period_hnr(x: np.ndarray, pulse_times: np.ndarray, usable: np.ndarray) -> float:
    """Harmonics-to-noise ratio (dB) from consecutive glottal periods, Yumoto et al.'s (1982)
    definition on pairs: each period resampled to a common length and scaled to unit RMS,
    the pair's mean is the harmonic part and the deviations from it the noise.

    Resampling each period to one length removes the change of F0 from one period to the
    next (a glide of the melody), and the unit RMS removes amplitude changes (shimmer,
    measured apart): what is left is the noise in the waveform's shape. Praat's
    cross-correlation HNR and CPPS, by contrast, rose 4.5 dB under a monotone
    resynthesis, because F0 movement inside their 40-60 ms windows reads as aperiodicity.
    """
    samples = np.round(np.asarray(pulse_times) * ANALYSIS_RATE).astype(int)
    grid = np.linspace(0.0, 1.0, PERIOD_POINTS, endpoint=False)
    harmonic = noise = 0.0
    previous = None
    for i in range(samples.size - 1):
        a, b = samples[i], samples[i + 1]
        if not usable[i] or b - a < 8:
            previous = None
            continue
        period = x[a:b]
        shape = np.interp(grid * (b - a), np.arange(b - a), period)
        shape = shape - shape.mean()
        rms = float(np.sqrt(np.mean(shape**2)))
        if rms <= 0:
            previous = None
            continue
        shape = shape / rms
        if previous is not None:
            mean = (shape + previous) / 2.0
            harmonic += float(np.sum(mean**2))
            noise += float(np.sum((shape - mean) ** 2 + (previous - mean) ** 2)) / 2.0
        previous = shape
    if harmonic <= 0 or noise <= 0:
        return float("nan")
    return float(10.0 * np.log10(harmonic / noise))
