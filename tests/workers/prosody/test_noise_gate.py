"""The noise gate (WADA-SNR): clean recordings, with or without pauses, are accepted; white
noise at 15 dB is scored but marked low-confidence; below the hard floor, a refusal."""

from __future__ import annotations

import numpy as np
import pytest

from tests.workers.prosody import speech as sp
from tests.workers.prosody.conftest import RECORDINGS
from workers.prosody import analyze
from workers.prosody.quality import WARNINGS, QualityLimits
from workers.prosody.snr import wada_snr_db
from avatar.settings import Settings


def _source(name: str) -> sp.Speech:
    found = sp.espeak_speech() if name == "espeak-cmn-f2" else sp.human_speech(name)
    if isinstance(found, str):
        pytest.skip(f"the real recording {name} from the f5-tts wheel is unavailable: {found}")
    return found


def _trimmed(x: np.ndarray) -> np.ndarray:
    """The speech with its leading and trailing quiet cut off: no noise floor to find."""
    loud = np.flatnonzero(np.abs(x) > 0.05 * np.abs(x).max())
    return x[loud[0] : loud[-1] + 1]


@pytest.mark.parametrize("name", RECORDINGS)
def test_clean_speech_without_pauses_is_never_refused(name: str) -> None:
    x = _source(name).samples
    for clip in (x, _trimmed(x)):
        q = analyze(clip, sp.RATE, "").quality
        assert q.ok and not q.low_confidence, q.as_dict()
    # Dense stretches of clean speech read lower (WADA assumes pauses between words): they
    # may be marked low-confidence (the rate is in docs/prosody.md), never refused.
    for clip in sp.windows(_trimmed(x)):
        q = analyze(clip, sp.RATE, "").quality
        assert q.ok, q.as_dict()


@pytest.mark.parametrize("name", RECORDINGS)
def test_white_noise_at_15db_is_scored_but_marked_low_confidence(name: str) -> None:
    report = analyze(sp.with_noise(_source(name).samples, 15), sp.RATE, "")
    q = report.quality.as_dict()
    assert report.quality.ok and report.scores is not None, q
    assert q["low_confidence"] is True and q["warnings"] == ["noisy"], q
    assert q["warning_message"] == WARNINGS["noisy"]
    assert report.features()["quality"]["low_confidence"] is True


@pytest.mark.parametrize("name", RECORDINGS)
def test_white_noise_at_10db_is_refused(name: str) -> None:
    report = analyze(sp.with_noise(_source(name).samples, 10), sp.RATE, "")
    assert not report.quality.ok and "low_snr" in report.quality.reasons
    assert report.scores is None


def test_wada_follows_the_added_noise_and_ignores_gain_and_padding() -> None:
    x = sp.espeak_speech().samples
    estimates = [wada_snr_db(sp.with_noise(x, db)) for db in (30, 20, 10, 0)]
    assert estimates == sorted(estimates, reverse=True)
    assert abs(estimates[2] - 10) < 4, estimates
    assert wada_snr_db(x * 0.01) == pytest.approx(wada_snr_db(x), abs=1e-6)
    assert wada_snr_db(np.concatenate([np.zeros(16000), x])) == pytest.approx(wada_snr_db(x), abs=1e-6)


def test_the_old_snr_setting_counts_only_when_a_deployment_sets_it() -> None:
    assert QualityLimits.from_settings(Settings()).min_snr_db == QualityLimits().min_snr_db
    strict = QualityLimits.from_settings(Settings(prosody_min_snr_db=25.0))
    assert strict.min_snr_db == 25.0 and strict.low_confidence_snr_db == 25.0
