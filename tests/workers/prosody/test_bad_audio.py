"""Bad audio gets a clear result (a reason code and a message), never a crash or a number."""

from __future__ import annotations

import numpy as np
import pytest

from tests.workers.prosody import speech as sp
from workers.prosody import analyze
from workers.prosody.analysis import analyze_wav
from workers.prosody.quality import REASONS

RATE = sp.RATE


def _refused(report, reason: str) -> None:  # type: ignore[no-untyped-def]
    quality = report.quality.as_dict()
    assert quality["status"] == "insufficient_quality" and report.status == "insufficient_quality"
    assert reason in quality["reasons"], quality
    assert quality["message"] and REASONS[reason] in quality["message"]
    assert report.scores is None
    assert report.features()["status"] == "insufficient_quality"


@pytest.mark.parametrize(
    ("name", "samples", "reason"),
    [
        ("empty", np.zeros(0), "empty"),
        ("nan", np.full(RATE * 2, np.nan), "invalid_samples"),
        ("one_nan", np.concatenate([np.zeros(RATE), [np.nan], np.zeros(RATE)]), "invalid_samples"),
        ("inf", np.full(RATE * 2, np.inf), "invalid_samples"),
        ("0.2 s", np.random.default_rng(0).normal(0, 0.1, int(0.2 * RATE)), "too_short"),
        ("10 minutes", np.random.default_rng(0).normal(0, 0.1, 600 * RATE), "too_long"),
        ("digital silence", np.zeros(3 * RATE), "silence"),
    ],
)
def test_hopeless_audio_is_refused_with_its_reason(name: str, samples: np.ndarray, reason: str) -> None:
    _refused(analyze(samples, RATE), reason)


def test_noise_without_speech_is_refused() -> None:
    noise = np.random.default_rng(3).normal(0, 0.01, 3 * RATE)
    report = analyze(noise, RATE, "你好")
    assert report.scores is None
    assert {"too_little_voice", "low_snr"} & set(report.quality.reasons), report.quality.as_dict()


def test_clipped_speech_is_refused() -> None:
    loud = np.clip(sp.espeak_speech("今天天氣很好，我們出去走走吧。").samples * 20, -1.0, 1.0)
    _refused(analyze(loud, RATE), "clipping")


def test_unreadable_bytes_are_refused() -> None:
    _refused(analyze_wav(b"definitely not a wav file"), "unreadable")
    _refused(analyze_wav(b""), "unreadable")


def test_stereo_and_int_like_input_are_accepted() -> None:
    x = sp.espeak_speech("今天天氣很好，我們出去走走吧。").samples
    stereo = np.stack([x, x], axis=1)
    report = analyze(stereo, RATE, "今天天氣很好，我們出去走走吧。")
    assert report.quality.ok and report.scores is not None
    assert len(report.egemaps) == 88
