"""Tests for avatar.chunker: hand-worked examples on realistic Traditional Chinese replies, bounds,
number/English protection, and hypothesis properties (lossless, no silent fragments, the result
does not depend on how the stream was cut into deltas)."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from avatar.chunker import SentenceChunker, count_speakable, split_text

REPLIES = [
    "他說：「今天天氣真好！」然後就出門了。你覺得呢？",
    "圓周率大約是 3.14159，通常我們取 3.14 來計算。如果半徑是 10 公分，"
    "圓面積大約是 314 平方公分……是不是很簡單？",
    "好的！以下是 Python 3.12 的安裝步驟：\n1. 前往官方網站下載安裝程式。\n"
    "2. 執行安裝程式，記得勾選「Add Python to PATH」。\n"
    "3. 打開終端機，輸入 python --version 確認版本。\n完成後，你就可以開始寫程式了！",
    "根據統計，2023 年台灣的人口約為 2,342 萬人，其中 65 歲以上的長者佔了大約 18.4%。"
    "預計到 2025 年，台灣將正式進入超高齡社會。",
    "明天的會議改到下午 12:30 開始，地點在三樓會議室。請記得帶筆電，我們會討論 Node.js "
    "專案的進度，以及 AI 客服系統的導入計畫。",
    "這個方法有幾個優點，例如 e.g. 速度快、記憶體用量低、容易維護；缺點是需要額外安裝套件，"
    "價格約 NT$1,000 元。官網是 https://example.com/docs ，歡迎參考。",
    "當然可以！『番茄炒蛋』的做法如下：先把 3 顆蛋打散，加入 1/2 茶匙鹽……"
    "接著熱鍋，油溫大約 160°C 時下蛋液。\n\n小提醒：番茄要先去皮（用熱水燙 30 秒即可），"
    "口感會更好喔！",
    "2024年3月15日（星期五）下午3:45，台北的氣溫是25.5度，濕度約80%。"
    "如果你要出門，建議帶把傘，因為降雨機率有60%左右。",
    "嗯……這個問題有點複雜。簡單來說，AI 模型（例如 GPT-4o 或 Llama 3.1）是用大量文字訓練出來的，"
    "它們會根據上下文預測下一個字，所以回答不一定百分之百正確。",
]

STRONG_CHARS = set("。！？｡\n!?.")
TOKEN = re.compile(r"[A-Za-z0-9]+(?:[.,:/-][A-Za-z0-9]+)*")  # numbers, words, Node.js, 12:30 ...


def stream(text: str, cuts: list[int], **kwargs: int) -> list[str]:
    chunker = SentenceChunker(**kwargs)
    bounds = [0, *sorted(set(cuts)), len(text)]
    out: list[str] = []
    for a, b in zip(bounds, bounds[1:]):
        out += chunker.feed(text[a:b])
    return out + chunker.flush()


def limits(kwargs: dict[str, int]) -> tuple[int, int, int, int]:
    return (
        kwargs.get("first_min", 6),
        kwargs.get("first_max", 10),
        kwargs.get("min_chars", 10),
        kwargs.get("max_chars", 15),
    )


def check_fragments(text: str, frags: list[str], **kwargs: int) -> None:
    """Every invariant that holds for any input and any chunker settings."""
    assert "".join(frags) == text
    assert all(frags)
    if count_speakable(text) == 0:
        assert frags == ([text] if text else [])
        return
    first_min, first_max, min_chars, max_chars = limits(kwargs)
    boundaries = set()
    pos = 0
    for n, frag in enumerate(frags):
        units = count_speakable(frag)
        low, high = (first_min, first_max) if n == 0 else (min_chars, max_chars)
        assert 1 <= units <= high, (frag, frags)
        if units < low and n < len(frags) - 1:  # short only when a sentence ends (or the tail)
            end = len(frag)
            while not frag[end - 1].isalnum():
                end -= 1
            assert STRONG_CHARS & set(frag[end:]), (frag, frags)  # after its last letter/digit
        pos += len(frag)
        boundaries.add(pos)
        if pos < len(text):  # never separate a combining mark / ZWJ from what it is glued to
            assert not re.match(r"[\u0300-\u036f\u200d\ufe0f\u20e3]", text[pos]), (frag, frags)
    for m in TOKEN.finditer(text):
        assert not any(m.start() < b < m.end() for b in boundaries), (m.group(), frags)


# --- hand-worked examples -------------------------------------------------------------------


def test_quotes_stay_with_their_sentence() -> None:
    assert split_text(REPLIES[0]) == ["他說：「今天天氣真好！」", "然後就出門了。", "你覺得呢？"]


def test_numbers_and_ellipsis() -> None:
    # "圓周率大約是 3.14159，" holds 7 units (3.14159 is one) >= first_min 6; the "，" after
    # 公分 comes at 7 < 10 units, so the third fragment is forced at 15: before 平, which would
    # part 314 from its unit, so before 314 instead (the fragment keeps 14 >= 10 units).
    assert split_text(REPLIES[1]) == [
        "圓周率大約是 3.14159，",
        "通常我們取 3.14 來計算。",
        "如果半徑是 10 公分，圓面積大約是 ",
        "314 平方公分……是不是很簡單？",
    ]


def test_short_exclamation_list_items_and_newlines() -> None:
    # "好的！" ends a sentence at 2 units; "1." is not a sentence end (only 1 unit before it).
    assert split_text(REPLIES[2]) == [
        "好的！",
        "以下是 Python 3.12 的安裝步驟：\n",
        "1. 前往官方網站下載安裝程式。\n",
        "2. 執行安裝程式，記得勾選「Add Python to PATH」。\n",
        "3. 打開終端機，輸入 python --version 確認版本。\n",
        "完成後，你就可以開始寫程式了！",
    ]


def test_english_tokens_and_urls_are_not_split_points() -> None:
    assert split_text(REPLIES[5]) == [
        "這個方法有幾個優點，",
        "例如 e.g. 速度快、記憶體用量低、",
        "容易維護；缺點是需要額外安裝套件，",
        "價格約 NT$1,000 元。",
        "官網是 https://example.com/docs ，歡迎參考。",
    ]


def test_forced_cuts() -> None:
    assert split_text("中華民國臺灣的首都位於臺北市中正區附近的總統府一帶地區") == [
        "中華民國臺灣的首都位",
        "於臺北市中正區附近的總統府一帶",
        "地區",
    ]
    # a forced cut moves before a number instead of breaking it ...
    assert split_text("一二三四五3.14159六", first_min=2, first_max=5) == ["一二三四五", "3.14159六"]
    assert split_text("一二三四五3.14159六", first_max=6) == ["一二三四五3.14159", "六"]
    # ... keeps a number with its unit or measure word (Chinese numerals too) ...
    assert split_text("今天台北的天氣晴朗而且氣溫大約二十五度左右", first_max=15) == [
        "今天台北的天氣晴朗而且氣溫大約", "二十五度左右"]
    assert split_text("今天台北天氣很好氣溫大約是二十五度", first_max=15) == ["今天台北天氣很好氣溫大約是", "二十五度"]
    # ... unless the fragment it ends would fall below its minimum
    assert split_text("今天二十五度", first_min=3, first_max=4) == ["今天二十", "五度"]
    # ... and leaves an opening quote to the fragment it opens
    assert split_text("一二三四五「六七」", first_min=2, first_max=5) == ["一二三四五", "「六七」"]


def test_weak_punctuation_below_minimum_does_not_cut() -> None:
    assert split_text("好，我知道了，謝謝。") == ["好，我知道了，謝謝。"]  # 1 and 5 units < 6
    assert split_text("好。我知道了。") == ["好。我知道了。"]  # 1 unit is too short even for 。


def test_no_speakable_text_and_silent_tails() -> None:
    assert split_text("") == []
    assert split_text("……！？\n") == ["……！？\n"]
    assert split_text("你好嗎？——") == ["你好嗎？——"]  # the silent tail is merged, not emitted
    assert split_text("你好嗎？ 😀 我很好。") == ["你好嗎？ ", "😀 我很好。"]


# --- realistic replies: bounds, streaming, token protection ------------------------------------


@pytest.mark.parametrize("text", REPLIES)
def test_realistic_replies(text: str) -> None:
    frags = split_text(text)
    check_fragments(text, frags)
    assert count_speakable(frags[0]) <= 10
    assert all(count_speakable(f) <= 15 for f in frags)
    assert stream(text, list(range(len(text)))) == frags  # char by char
    assert stream(text, list(range(0, len(text), 3))) == frags


def test_fragments_are_emitted_while_streaming() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("今天天氣真好") == []
    assert chunker.feed("！") == []  # not yet known what follows the "！"
    assert chunker.feed("」") == []  # the closing quote stays with its sentence
    assert chunker.feed("我們") == ["今天天氣真好！」"]
    chunker = SentenceChunker()
    assert chunker.feed("今天天氣真好！") == []
    assert chunker.feed("我們") == ["今天天氣真好！"]
    assert chunker.flush() == ["我們"]
    assert chunker.flush() == []
    assert chunker.feed("再見。") == [] and chunker.flush() == ["再見。"]  # reusable after flush
    text = "".join(REPLIES)
    chunker = SentenceChunker()
    early = [f for ch in text for f in chunker.feed(ch)]
    assert len(chunker.flush()) == 1 and len(early) > 20


def test_invalid_settings() -> None:
    with pytest.raises(ValueError):
        SentenceChunker(first_min=11, first_max=10)
    with pytest.raises(ValueError):
        SentenceChunker(min_chars=0)


def test_long_streams_are_linear() -> None:
    text = "".join(REPLIES) * 40  # ~ 9000 chars fed one by one, then at once
    silence = "，" * 20000 + "好的。" + " " * 20000 + "完了"
    start = time.perf_counter()
    for t in (text, silence):
        chunker = SentenceChunker()
        frags = [f for ch in t for f in chunker.feed(ch)] + chunker.flush()
        assert frags == split_text(t)
    assert split_text(silence) == ["，" * 20000 + "好的。" + " " * 20000, "完了"]
    assert time.perf_counter() - start < 5


# --- hypothesis properties -------------------------------------------------------------------

PIECES = st.one_of(
    st.sampled_from(list("的是我你他們這個不了有在人中大國台灣天氣好說會時間年月日")),
    st.sampled_from(list("。！？；，、：…「」『』（）“”\"'.,!?;:-/()%$@——")),
    st.sampled_from([" ", "\n", "  ", "\t", "\r\n"]),
    st.from_regex(r"[0-9]{1,4}([.,:][0-9]{1,3})?", fullmatch=True),
    st.sampled_from(["Python", "Node.js", "AI", "e.g.", "https://a.tw/x", "GPT-4o", "U.S.", "..."]),
    st.sampled_from(["é", "e\u0301", "👍🏽", "👨\u200d👩", "1\ufe0f\u20e3", "１２", "ｶ", "한국"]),
)
TEXTS = st.one_of(st.lists(PIECES, max_size=50).map("".join), st.text(max_size=60))


@st.composite
def settings_kwargs(draw: st.DrawFn) -> dict[str, int]:
    first_min = draw(st.integers(1, 8))
    min_chars = draw(st.integers(1, 12))
    return {
        "first_min": first_min,
        "first_max": first_min + draw(st.integers(0, 6)),
        "min_chars": min_chars,
        "max_chars": min_chars + draw(st.integers(0, 8)),
    }


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, data=st.data())
def test_property_default_settings(text: str, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    frags = split_text(text)
    check_fragments(text, frags)
    assert stream(text, cuts) == frags


@settings(max_examples=300, deadline=None)
@given(text=TEXTS, kwargs=settings_kwargs(), data=st.data())
def test_property_any_settings(text: str, kwargs: dict[str, int], data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(0, len(text)), max_size=20))
    frags = split_text(text, **kwargs)
    check_fragments(text, frags, **kwargs)
    assert stream(text, cuts, **kwargs) == frags
    assert stream(text, list(range(len(text))), **kwargs) == frags
