"""zh-TW text normalisation before any TTS engine: what is written becomes what is said.

Numbers (with 萬/億, decimals, negatives), dates (2026/11/22, 2026-11-22, 11月22日),
times (14:30), percentages (45% → 百分之四十五), currency (NT$1,200 → 一千兩百元,
US$5 → 五美元, ¥, €, £), long digit strings (phone numbers, read digit by digit) and
English acronyms (AI → A I, so each letter is spoken). Readings follow Taiwanese usage
(兩百, 兩千; 零 for zero).
"""

from __future__ import annotations

import re

DIGITS = "零一二三四五六七八九"
SMALL_UNITS = ("", "十", "百", "千")
BIG_UNITS = ("", "萬", "億", "兆")
CURRENCY = {"NT$": "元", "US$": "美元", "$": "元", "¥": "日圓", "€": "歐元", "£": "英鎊", "HK$": "港幣"}


def _four(n: int, *, leading: bool) -> str:
    """0..9999 in Chinese; ``leading`` is False when a higher group precedes (for 零)."""
    out, zero = "", False
    for power in (3, 2, 1, 0):
        d = n // 10**power % 10
        if d == 0:
            zero = bool(out) or not leading
            continue
        if zero and (out or not leading):
            out += "零"
        zero = False
        word = "兩" if d == 2 and power >= 2 else DIGITS[d]
        if d == 1 and power == 1 and not out and leading:
            word = ""  # 十五, not 一十五
        out += word + SMALL_UNITS[power]
    return out


def integer_to_zh(n: int) -> str:
    if n == 0:
        return "零"
    if n < 0:
        return "負" + integer_to_zh(-n)
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    if len(groups) > len(BIG_UNITS):
        return digits_to_zh(str(sum(g * 10000**i for i, g in enumerate(groups))))
    out = ""
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            continue
        leading = not out
        if out and group < 1000:
            out += "零"
        part = _four(group, leading=True)
        if not leading and part.startswith("十"):
            part = "一" + part
        out += part + BIG_UNITS[index]
    if out.endswith("兩") and len(out) == 1:  # bare 2 is 二
        out = "二"
    return out


def digits_to_zh(digits: str) -> str:
    return "".join(DIGITS[int(d)] for d in digits if d.isdigit())


def number_to_zh(text: str) -> str:
    """'1,200' / '3.14' / '-5' → Chinese reading."""
    text = text.replace(",", "")
    negative = text.startswith("-")
    text = text.lstrip("-+")
    whole, _, fraction = text.partition(".")
    out = integer_to_zh(int(whole or "0"))
    if out == "兩":
        out = "二"
    if fraction:
        out += "點" + digits_to_zh(fraction)
    return ("負" if negative else "") + out


_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_PATTERNS: list[tuple[re.Pattern[str], object]] = []


def _rule(pattern: str):  # noqa: ANN202 - decorator
    def register(fn):  # noqa: ANN001, ANN202
        _PATTERNS.append((re.compile(pattern), fn))
        return fn
    return register


@_rule(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})")
def _date(m: re.Match[str]) -> str:
    return f"{digits_to_zh(m[1])}年{number_to_zh(m[2])}月{number_to_zh(m[3])}日"


@_rule(r"(\d{4})年")
def _year(m: re.Match[str]) -> str:
    return f"{digits_to_zh(m[1])}年"


@_rule(r"(?<!\d)([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?(?!\d)")
def _time(m: re.Match[str]) -> str:
    hour, minute = int(m[1]), int(m[2])
    out = f"{number_to_zh(str(hour))}點"
    if minute:
        out += f"{'零' if minute < 10 else ''}{number_to_zh(str(minute))}分"
    if m[3] and int(m[3]):
        out += f"{number_to_zh(str(int(m[3])))}秒"
    return out


@_rule(r"(NT\$|US\$|HK\$|\$|¥|€|£)\s?(" + _NUM + ")")
def _currency(m: re.Match[str]) -> str:
    return number_to_zh(m[2]) + CURRENCY[m[1]]


@_rule(r"(" + _NUM + r")\s?%")
def _percent(m: re.Match[str]) -> str:
    return "百分之" + number_to_zh(m[1])


@_rule(r"\d{5,}(?![\d.,])")
def _long_digits(m: re.Match[str]) -> str:
    # Phone numbers, codes and IDs are read digit by digit (an amount has commas or units).
    return digits_to_zh(m[0]) if m[0].startswith("0") or len(m[0]) > 8 else integer_to_zh(int(m[0]))


@_rule(r"-?(?:" + _NUM + ")")
def _number(m: re.Match[str]) -> str:
    return number_to_zh(m[0])


@_rule(r"(?<![A-Za-z])[A-Z]{2,6}(?![A-Za-z])")
def _acronym(m: re.Match[str]) -> str:
    return " ".join(m[0])


def normalize_zh(text: str) -> str:
    """The text as it should be spoken (idempotent: normalising twice changes nothing)."""
    for pattern, fn in _PATTERNS:
        text = pattern.sub(fn, text)  # type: ignore[arg-type]
    return text
