"""The score formula: robust z against the norms (or the speaker's own baseline), signed
weighted sum, logistic; the explanation adds up to the score."""

from __future__ import annotations

import math

import pytest

from workers.prosody.scores import GAIN, SCORES, Z_CLIP, load_norms, score
from workers.prosody.transcript import count_filled_pauses, count_syllables


def _at_norms(**changes: float) -> dict[str, float]:
    features = {name: v["center"] for name, v in load_norms()["features"].items()}
    return {**features, **changes}


def test_every_scored_feature_has_a_norm_and_weights_sum_to_one() -> None:
    norms = load_norms()["features"]
    for name, terms in SCORES.items():
        assert sum(t.weight for t in terms) == pytest.approx(1.0), name
        for term in terms:
            assert term.feature in norms and norms[term.feature]["scale"] > 0


def test_the_norms_hold_only_the_scored_features() -> None:
    # A reference that no score compares against only suggests a meaning the report does not
    # give (issue 19 left the priors of the unscored whole-utterance measures behind).
    used = {t.feature for terms in SCORES.values() for t in terms}
    assert set(load_norms()["features"]) == used


def test_a_speaker_at_the_norms_scores_50() -> None:
    mode, scores, _ = score(_at_norms())
    assert mode == "norms"
    assert scores == {"confidence": 50.0, "stability": 50.0, "affability": 50.0}


def test_the_explanation_adds_up_to_the_score() -> None:
    features = _at_norms(speech_rate_sps=6.0, pause_ratio=0.4, jitter_rap_steady_pct=1.0, f0_sd_st=1.0)
    _, scores, explanation = score(features)
    for name, rows in explanation.items():
        logit = sum(r["contribution"] for r in rows)
        assert scores[name] == pytest.approx(100 / (1 + math.exp(-logit)), abs=0.06)
        assert sum(r["weight"] for r in rows) == pytest.approx(1.0, abs=0.005)
        contributions = [abs(r["contribution"]) for r in rows]
        assert contributions == sorted(contributions, reverse=True), "largest effect first"
    pause = next(r for r in explanation["confidence"] if r["feature"] == "pause_ratio")
    assert pause["z"] == Z_CLIP and pause["contribution"] < 0  # clipped, and lowers confidence


def test_rate_is_confidences_cue_and_not_affabilitys() -> None:
    # Issue 19: each score follows its own cue; the rate deviation left affability.
    fast, slow = score(_at_norms(speech_rate_sps=6.5))[1], score(_at_norms(speech_rate_sps=2.5))[1]
    assert fast["affability"] == slow["affability"] == 50.0
    assert fast["confidence"] > 50.0 > slow["confidence"]


def test_tremor_counts_only_in_excess_of_the_norm() -> None:
    norm = load_norms()["features"]["f0_tremor_power"]
    below = score(_at_norms(f0_tremor_power=0.0))
    above = score(_at_norms(f0_tremor_power=norm["center"] + 2 * norm["scale"]))
    assert below[1]["stability"] == 50.0, "less 4-8 Hz regularity than usual is not a steadier voice"
    assert above[1]["stability"] < 50.0
    row = next(r for r in below[2]["stability"] if r["feature"] == "f0_tremor_power")
    assert row["direction"] == "excess" and row["z"] < 0 and row["contribution"] == 0.0


def test_speaker_mode_needs_three_earlier_utterances() -> None:
    earlier = [_at_norms(f0_median_st=0.0 + i * 0.1) for i in range(3)]
    assert score(_at_norms(), earlier[:2])[0] == "norms"
    mode, scores, explanation = score(_at_norms(f0_median_st=0.1), earlier)
    assert mode == "speaker"
    assert scores["confidence"] == pytest.approx(50.0, abs=0.1)
    row = next(r for r in explanation["confidence"] if r["feature"] == "f0_median_st")
    # Three near-identical utterances: the scale is floored at half the norm's spread.
    assert row["scale"] == pytest.approx(0.5 * load_norms()["features"]["f0_median_st"]["scale"])
    higher = score(_at_norms(f0_median_st=3.1), earlier)[1]["confidence"]
    assert higher == pytest.approx(100 / (1 + math.exp(GAIN * 0.15 * 2.0)), abs=0.1)


def test_syllables_and_fillers_from_the_transcript() -> None:
    assert count_syllables("今天天氣很好。") == 6
    assert count_syllables("我用 Google 打電話") == 5 + 2  # vowel groups: a rough count
    assert count_filled_pauses("嗯，就是，那個，我想問一下") == 3
    assert count_filled_pauses("這就是我要的那個東西") == 0  # ordinary words, not fillers
    assert count_filled_pauses("呃 um 我不知道") == 2
