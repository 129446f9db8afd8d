"""Tremor: a regular 4-8 Hz oscillation of the F0 contour or of the amplitude envelope,
told apart from intonation by its regularity, not by its energy.

The energy of the 4-8 Hz band of the F0 contour (the former ``tremor_st``) cannot tell a
tremor from speech melody: Mandarin tones and English pitch accents move F0 at syllable
rate, 4-6 per second, so a monotone resynthesis lowered that energy as much as a 6 Hz
+-4 % tremor raised it, and a livelier intonation raised it. What sets a tremor apart is
that it is *periodic*: one frequency, held over many cycles (Brückl 2012 measures vocal
tremor from the autocorrelation of the detrended contour for this reason). Speech melody
is not: the syllables' movements
come at irregular intervals and in changing shapes.

So, for a contour (F0 in semitones, or frame level in dB):

1. the intonation is removed: each voiced stretch is high-passed at ``DETREND_HZ`` (the
   slow contour: declination, phrase accents and most of each tone's shape), both ways so
   nothing shifts in time;
2. a sinusoid is fitted by least squares to the residual of the *whole* utterance at each
   frequency from 4 to 8 Hz (0.1 Hz steps; the stretches keep their own times, so a tremor
   that runs on through the consonants fits as one oscillation, as in a Lomb-Scargle
   periodogram);
3. the **regularity** is the best fit's amplitude over the residual's RMS (scaling the
   intonation scales both, so a livelier or flatter melody leaves it alone), and the scored
   **power** is the Lomb-Scargle normalised power of that best fit, ``N x regularity^2 / 4``
   over the ``N`` contour frames (Lomb 1976; Scargle 1982): the regularity of chance fits
   shrinks as 1/sqrt(N), so the power, not the ratio, is comparable between a 3 s and a
   20 s utterance.

The stability score counts only the excess of power above the speech norm (a one-sided
term): a flatter melody is not a steadier voice.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, sosfiltfilt

from workers.prosody.steadiness import runs

TREMOR_HZ = np.arange(4.0, 8.0001, 0.1)
DETREND_HZ = 2.5
MIN_STRETCH_FRAMES = 10  # 100 ms: shorter voiced stretches hold no cycle of a 4-8 Hz tremor
MIN_FRAMES = 40  # 0.4 s of usable contour in all


def _residual(series: np.ndarray, mask: np.ndarray, frame_s: float) -> tuple[np.ndarray, np.ndarray]:
    sos = butter(2, DETREND_HZ, btype="highpass", fs=1.0 / frame_s, output="sos")
    times, values = [], []
    for start, end in runs(mask):
        if end - start < MIN_STRETCH_FRAMES:
            continue
        stretch = series[start:end]
        values.append(sosfiltfilt(sos, stretch - stretch.mean(), padtype="even", padlen=min(end - start - 1, 30)))
        times.append(np.arange(start, end) * frame_s)
    if not values:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(times), np.concatenate(values)


def regularity(series: np.ndarray, mask: np.ndarray, frame_s: float = 0.01) -> dict[str, float]:
    """{regularity, amplitude (the contour's unit), frequency (Hz)} of the best 4-8 Hz
    sinusoid in the detrended contour; zeros when there is too little of it."""
    t, r = _residual(series, mask, frame_s)
    rms = float(np.sqrt(np.mean(r**2))) if r.size else 0.0
    if r.size < MIN_FRAMES or rms <= 0:
        return {"regularity": 0.0, "power": 0.0, "amplitude": 0.0, "frequency": 0.0}
    amplitudes = np.zeros(TREMOR_HZ.size)
    for i, f in enumerate(TREMOR_HZ):
        design = np.column_stack([np.cos(2 * np.pi * f * t), np.sin(2 * np.pi * f * t)])
        coef, *_ = np.linalg.lstsq(design, r, rcond=None)
        amplitudes[i] = float(np.hypot(coef[0], coef[1]))
    best = int(np.argmax(amplitudes))
    ratio = float(amplitudes[best] / rms)
    return {"regularity": ratio, "power": r.size * ratio**2 / 4.0, "amplitude": float(amplitudes[best]),
            "frequency": float(TREMOR_HZ[best])}


def tremor_features(f0_hz: np.ndarray, level_db: np.ndarray, frame_s: float = 0.01) -> dict[str, float]:
    """F0 tremor (semitone contour of the voiced frames) and amplitude tremor (level contour
    of the voiced frames within 20 dB of the loud level)."""
    voiced = f0_hz > 0
    semitones = 12.0 * np.log2(np.where(voiced, f0_hz, 100.0) / 100.0)
    loud = np.percentile(level_db, 95) if level_db.size else 0.0
    f0_tremor = regularity(semitones, voiced, frame_s)
    amp_tremor = regularity(level_db, voiced & (level_db >= loud - 20.0), frame_s)
    return {
        "f0_tremor_regularity": f0_tremor["regularity"],
        "f0_tremor_power": f0_tremor["power"],
        "amplitude_tremor_power": amp_tremor["power"],
        "f0_tremor_st": f0_tremor["amplitude"],
        "f0_tremor_hz": f0_tremor["frequency"],
        "amplitude_tremor_regularity": amp_tremor["regularity"],
        "amplitude_tremor_db": amp_tremor["amplitude"],
        "amplitude_tremor_hz": amp_tremor["frequency"],
    }
