"""Validation without labels, on real speech: controlled manipulations (Praat PSOLA) move
each score in the direction docs/prosody.md documents, by more than the score's measured
test-retest noise, relative to the identity-resynthesis control; gain and resampling do not
move them; the quality gate fires at 10 dB SNR."""

from __future__ import annotations

import pytest

from tests.workers.prosody.conftest import SCORE_NAMES, Validation

# (manipulation, score, expected sign of the move): the documented directions.
DIRECTIONS = [
    ("monotone", "affability", -1),  # monotone voice: less warm
    ("f0_range_x1.5", "affability", +1),  # livelier intonation: warmer
    ("jitter", "stability", -1),  # cycle-to-cycle irregularity
    ("tremor_6hz", "stability", -1),  # 4-8 Hz F0 modulation
    ("tempo_x1.3", "confidence", +1),  # faster speech
    ("tempo_x0.77", "confidence", -1),  # slower speech
    ("pauses", "confidence", -1),  # three inserted 0.8 s pauses
]


def _describe(v: Validation, manipulation: str, score: str) -> str:
    return (
        f"{v.source.name}: {score} {v.control.scores[score]} -> "  # type: ignore[index]
        f"{v.reports[manipulation].scores[score]} under {manipulation}; "  # type: ignore[index]
        f"test-retest noise {v.noise[score]:.1f} (windows {v.window_scores[score]})"
    )


def test_control_and_original_pass_the_gate(validation: Validation) -> None:
    assert validation.original.quality.ok, validation.original.quality.as_dict()
    assert validation.control.quality.ok, validation.control.quality.as_dict()
    assert validation.original.mode == validation.control.mode == "norms"


def test_test_retest_noise_across_windows_is_bounded(validation: Validation) -> None:
    for score in SCORE_NAMES:
        assert len(validation.window_scores[score]) == 4, "every window passed the gate"
        assert validation.noise[score] < 15.0, _describe(validation, "monotone", score)


@pytest.mark.parametrize(("manipulation", "score", "sign"), DIRECTIONS)
def test_manipulation_moves_score_in_documented_direction(
    validation: Validation, manipulation: str, score: str, sign: int
) -> None:
    report = validation.reports[manipulation]
    assert report.quality.ok, report.quality.as_dict()
    shift = validation.shift(manipulation, score)
    assert sign * shift > validation.noise[score], _describe(validation, manipulation, score)


def test_higher_pitch_lowers_confidence_against_the_speakers_own_baseline(validation: Validation) -> None:
    steady = validation.reports["speaker_control"]
    raised = validation.reports["speaker_plus_3_semitones"]
    assert steady.mode == raised.mode == "speaker"
    assert steady.scores == {"confidence": 50.0, "stability": 50.0, "affability": 50.0}
    drop = steady.scores["confidence"] - raised.scores["confidence"]  # type: ignore[index]
    assert drop > validation.noise["confidence"], (drop, validation.noise)
    # Against the population norms the pitch level is not used (it mostly reflects sex).
    assert all(r["feature"] != "f0_median_st" for r in validation.control.explanation["confidence"])


@pytest.mark.parametrize("manipulation", ["gain_+12db", "gain_-12db", "resampled_44k"])
def test_gain_and_resampling_do_not_move_scores(validation: Validation, manipulation: str) -> None:
    report = validation.reports[manipulation]
    assert report.quality.ok, report.quality.as_dict()
    for score in SCORE_NAMES:
        assert abs(validation.shift(manipulation, score)) < validation.noise[score], _describe(
            validation, manipulation, score
        )


def test_quality_gate_passes_30db_and_fires_at_10db_snr(validation: Validation) -> None:
    clean_enough = validation.reports["noise_30db"]
    assert clean_enough.quality.ok, clean_enough.quality.as_dict()
    noisy = validation.reports["noise_10db"]
    assert not noisy.quality.ok
    assert "low_snr" in noisy.quality.reasons
    assert noisy.scores is None and noisy.explanation == {}
    assert noisy.egemaps and noisy.praat, "features are kept even when scores are refused"
