"""The arithmetic of ``avatar eval`` on cases with a known answer."""

from __future__ import annotations

import math

import pytest

from workers.evaluation.metrics import CharErrors, char_errors, corpus_cer, normalise_zh_tw


def test_normalisation_keeps_only_what_was_said() -> None:
    assert normalise_zh_tw("今天天气很好。") == "今天天氣很好"  # script: Simplified written as Traditional
    assert normalise_zh_tw("ＡＩ 助理，你好！") == "ai助理你好"  # full-width, case, punctuation, spaces
    assert normalise_zh_tw("「好」……") == "好"


def test_one_substitution_in_six_characters() -> None:
    errors = char_errors("今天天氣很好", "今天天氣不好")
    assert (errors.substitutions, errors.deletions, errors.insertions, errors.reference_chars) == (1, 0, 0, 6)
    assert errors.cer == pytest.approx(1 / 6)


def test_script_and_punctuation_are_not_errors() -> None:
    assert char_errors("今天天氣很好。", "今天天气很好").cer == 0.0


def test_deletions_insertions_and_an_empty_hypothesis() -> None:
    assert char_errors("台北車站", "台北站") == CharErrors(0, 1, 0, 4)
    assert char_errors("台北", "台北市") == CharErrors(0, 0, 1, 2)
    assert char_errors("台北", "") == CharErrors(0, 2, 0, 2)
    assert char_errors("台北", "台北市政府").cer == 1.5  # insertions can take CER past 1


def test_a_reference_with_nothing_to_score_is_refused() -> None:
    with pytest.raises(ValueError, match="no characters to score"):
        char_errors("。。！", "好")


def test_corpus_cer_weighs_by_characters_not_utterances() -> None:
    short = char_errors("好", "壞")  # 1 / 1
    long = char_errors("今天天氣很好我們去公園", "今天天氣很好我們去公園")  # 0 / 11
    assert corpus_cer([short, long]) == pytest.approx(1 / 12)  # the mean of rates would say 0.5
    assert math.isnan(corpus_cer([]))
