"""Single Praat features on real (espeak-ng) speech."""

from __future__ import annotations

import numpy as np
import parselmouth
import pytest

from tests.workers.prosody import speech as sp
from workers.prosody.features import MIN_FINAL_STRETCH_FRAMES, praat_features, tracks
from workers.prosody.steadiness import runs


def test_a_short_voiced_fragment_at_the_end_is_not_the_final_contour() -> None:
    # Issue 19: the main story voice ended in a 50 ms voiced fragment whose five frames read
    # -45 st/s, then +21 st/s under tempo x1.3, and moved confidence more than the tempo.
    speech = sp.espeak_speech()
    x = speech.samples
    voiced = [r for r in runs(tracks(parselmouth.Sound(x, sampling_frequency=sp.RATE)).f0_hz > 0) if r[1] - r[0] >= 20]
    start = voiced[len(voiced) // 2][0] * sp.RATE // 100 + 400
    fragment = x[start : start + 1100]  # about 70 ms from inside a vowel
    silence = np.zeros(int(0.3 * sp.RATE))
    extended = np.concatenate([x, silence, fragment, silence])

    last = runs(tracks(parselmouth.Sound(extended, sampling_frequency=sp.RATE)).f0_hz > 0)[-1]
    assert 5 <= last[1] - last[0] < MIN_FINAL_STRETCH_FRAMES, "the fragment is a short voiced stretch"
    before = praat_features(x, speech.transcript)[0]["final_slope_st_per_s"]
    after = praat_features(extended, speech.transcript)[0]["final_slope_st_per_s"]
    assert after == pytest.approx(before, abs=0.5)
