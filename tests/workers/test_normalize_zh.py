"""zh-TW text normalisation: what is written becomes what is said."""

from __future__ import annotations

import pytest

from workers.engines.tts.normalize_zh import integer_to_zh, normalize_zh


@pytest.mark.parametrize(("n", "said"), [
    (0, "零"), (2, "二"), (10, "十"), (15, "十五"), (105, "一百零五"), (110, "一百一十"),
    (1005, "一千零五"), (2000, "兩千"), (1200, "一千兩百"), (12345, "一萬兩千三百四十五"),
    (100000000, "一億"),
])
def test_integers_read_the_taiwanese_way(n: int, said: str) -> None:
    assert integer_to_zh(n) == said


@pytest.mark.parametrize(("text", "said"), [
    ("會議在2026/11/22的14:30開始", "會議在二零二六年十一月二十二日的十四點三十分開始"),
    ("漲了45%", "漲了百分之四十五"),
    ("價格NT$1,200，或US$5", "價格一千兩百元，或五美元"),
    ("電話0912345678", "電話零九一二三四五六七八"),
    ("AI和GPU很熱門", "A I和G P U很熱門"),
    ("氣溫25.5度", "氣溫二十五點五度"),
    ("下午3:05", "下午三點零五分"),
    ("-3度", "負三度"),
    ("2026年", "二零二六年"),
])
def test_numbers_dates_times_percent_currency_acronyms(text: str, said: str) -> None:
    assert normalize_zh(text) == said


def test_normalising_twice_changes_nothing() -> None:
    once = normalize_zh("NT$300，明天9:00在101大樓，AI講座打8折（80%）。")
    assert normalize_zh(once) == once
    assert not any(c.isdigit() for c in once)
