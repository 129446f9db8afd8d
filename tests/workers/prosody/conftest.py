"""Real speech for the prosody tests, and every manipulation analysed once per session."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from tests.workers.prosody import speech as sp
from workers.prosody import ProsodyReport, analyze

SCORE_NAMES = ("confidence", "stability", "affability")
NOISE_FLOOR = 1.0  # points: a recording whose windows agree exactly still rounds to 0.1


@dataclass
class Validation:
    """One real recording: its identity-resynthesis control, each manipulation's report,
    and the test-retest noise of each score across windows of the control."""

    source: sp.Speech
    original: ProsodyReport
    control: ProsodyReport
    reports: dict[str, ProsodyReport]
    window_scores: dict[str, list[float]]
    noise: dict[str, float] = field(default_factory=dict)

    def shift(self, manipulation: str, score: str) -> float:
        return self.reports[manipulation].scores[score] - self.control.scores[score]  # type: ignore[index]


def _analyse_all(source: sp.Speech) -> Validation:
    x, text = source.samples, source.transcript
    control = sp.identity(x)
    reports: dict[str, Any] = {}

    def run(name: str, y: np.ndarray, rate: int = sp.RATE, **kw: Any) -> None:
        reports[name] = analyze(y, rate, text, **kw)

    for name, y in {
        "monotone": sp.monotone(x), "f0_range_x1.5": sp.f0_range(x, 1.5), "jitter": sp.jitter(x),
        "tremor_6hz": sp.tremor(x), "tempo_x1.3": sp.tempo(x, 1.3), "tempo_x0.77": sp.tempo(x, 0.77),
        "plus_3_semitones": sp.shift_semitones(x, 3), "pauses": sp.insert_pauses(control),
        "gain_+12db": sp.gain(control, 12), "gain_-12db": sp.gain(control, -12),
        "noise_30db": sp.with_noise(control, 30), "noise_10db": sp.with_noise(control, 10),
    }.items():
        run(name, y)
    run("resampled_44k", *sp.resampled(control))
    control_report = analyze(control, sp.RATE, text)
    # Speaker-relative mode: three earlier utterances of the same speaker (the control).
    baseline = [control_report.praat] * 3
    run("speaker_control", control, baseline=baseline)
    run("speaker_plus_3_semitones", sp.shift_semitones(x, 3), baseline=baseline)

    # Test-retest: overlapping windows of the control, scored without a transcript (a
    # window's words are unknown), so the syllable-nuclei rate is part of the noise.
    windows = [analyze(w, sp.RATE, "") for w in sp.windows(control)]
    window_scores = {s: [w.scores[s] for w in windows if w.scores] for s in SCORE_NAMES}
    validation = Validation(
        source=source, original=analyze(x, sp.RATE, text), control=control_report,
        reports=reports, window_scores=window_scores,
    )
    validation.noise = {
        s: max(NOISE_FLOOR, float(np.std(v, ddof=1))) for s, v in window_scores.items()
    }
    return validation


_cache: dict[str, Validation] = {}


@pytest.fixture(scope="session", params=["espeak", "f5"])
def validation(request: pytest.FixtureRequest) -> Validation:
    if request.param not in _cache:
        if request.param == "espeak":
            source = sp.espeak_speech()
        else:
            found = sp.f5_speech()
            if isinstance(found, str):
                pytest.skip(f"the real recording from the f5-tts wheel is unavailable: {found}")
            source = found
        _cache[request.param] = _analyse_all(source)
    return _cache[request.param]
