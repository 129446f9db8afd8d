"""Each score's test-retest interval and the speaker-relative change: the arithmetic on cases
with a known answer, the SDs' provenance (the isolation suite's measurement), and a real
analysis carrying both from the third utterance on."""

from __future__ import annotations

import math

import pytest

from tests.workers.prosody import speech as sp
from workers.prosody import analyze
from workers.prosody.reliability import Z95, intervals, load_retest, relative_change, retest_sd

NAMES = ("confidence", "stability", "affability")


def test_the_retest_sds_are_the_isolation_suites_measurement() -> None:
    retest = load_retest()
    assert "isolation" in retest["source"] and retest["recordings"]
    for name in NAMES:
        per_recording = [r["sd"][name] for r in retest["recordings"]]
        # the median over the recordings, as the module says
        ordered = sorted(per_recording)
        mid = len(ordered) // 2
        median = ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
        assert retest["sd"][name] == pytest.approx(median, abs=0.01)


def test_an_interval_is_1_96_sd_either_side_clipped_to_the_scale() -> None:
    sd = retest_sd("stability")
    got = intervals({"stability": 50.0, "confidence": 1.0})
    assert got["stability"]["low"] == pytest.approx(50.0 - Z95 * sd, abs=0.05)
    assert got["stability"]["high"] == pytest.approx(50.0 + Z95 * sd, abs=0.05)
    assert got["confidence"]["low"] == 0.0  # never below the scale


def test_the_change_counts_from_the_third_utterance_and_says_when_it_exceeds_the_noise() -> None:
    assert relative_change({"affability": 60.0}, [{"affability": 50.0}]) is None
    sd = retest_sd("affability")
    threshold = Z95 * sd * math.sqrt(1 + 1 / 3)
    earlier = [{"affability": 40.0}, {"affability": 50.0}, {"affability": 90.0}]  # median 50
    small = relative_change({"affability": 50.0 + 0.9 * threshold}, earlier)
    large = relative_change({"affability": 50.0 - 1.1 * threshold}, earlier)
    assert small["earlier_utterances"] == 3
    assert small["scores"]["affability"]["baseline"] == 50.0
    assert small["scores"]["affability"]["threshold"] == pytest.approx(threshold, abs=0.05)
    assert small["scores"]["affability"]["exceeds_noise"] is False
    assert large["scores"]["affability"]["exceeds_noise"] is True
    assert large["scores"]["affability"]["change"] == pytest.approx(-1.1 * threshold, abs=0.05)


def test_a_real_analysis_carries_the_interval_and_from_two_earlier_the_change() -> None:
    speech = sp.espeak_speech()
    first = analyze(speech.samples, sp.RATE, speech.transcript)
    assert first.relative is None and set(first.interval) == set(NAMES)
    slower = sp.espeak_speech(speed=120)
    third = analyze(slower.samples, sp.RATE, slower.transcript, baseline=[first.praat, first.praat])
    assert third.mode == "norms" and third.relative["earlier_utterances"] == 2
    for name in NAMES:  # the earlier two rescored against the same norms: the first's scores
        change = third.relative["scores"][name]
        assert change["baseline"] == pytest.approx(first.scores[name], abs=0.06)
        assert change["change"] == pytest.approx(third.scores[name] - first.scores[name], abs=0.11)
    assert third.features()["relative"] == third.relative
