"""Microphone frame parsing and the barge-in's count of what was heard (pure functions)."""

from __future__ import annotations

import base64

import pytest

from api.audio_stream import FrameError, parse_frame
from avatar.turns import spoken_text
from avatar.domain import ErrorCode

OWN = "3f1c2a4e-0000-4000-8000-000000000001"
MAX = 16_000  # bytes: 500 ms


def test_accepts_binary_and_the_seeds_json_form() -> None:
    pcm = b"\x01\x00" * 320
    assert parse_frame(pcm, OWN, MAX) == pcm
    assert parse_frame({"data": pcm, "sr": 16_000}, OWN, MAX) == pcm
    assert parse_frame({"data": base64.b64encode(pcm).decode(), "sr": 16_000, "timestamp": 1.0}, OWN, MAX) == pcm


@pytest.mark.parametrize(("frame", "code"), [
    ({"data": b"\0\0", "sr": 48_000}, ErrorCode.BAD_AUDIO),
    ({"data": b"\0\0", "sr": "16000"}, ErrorCode.BAD_AUDIO),
    (b"\0\0\0", ErrorCode.BAD_AUDIO),
    (b"", ErrorCode.BAD_AUDIO),
    (b"\0" * (MAX + 2), ErrorCode.FRAME_TOO_LARGE),
    ({"data": "A" * (MAX * 2), "sr": 16_000}, ErrorCode.FRAME_TOO_LARGE),
    ({"data": "%%%", "sr": 16_000}, ErrorCode.BAD_AUDIO),
    ({"sr": 16_000}, ErrorCode.BAD_AUDIO),
    ([1, 2, 3], ErrorCode.BAD_AUDIO),
    ({"data": b"\0\0", "session_id": "someone-else"}, ErrorCode.UNAUTHORIZED),
])
def test_refuses_bad_frames(frame: object, code: ErrorCode) -> None:
    with pytest.raises(FrameError) as caught:
        parse_frame(frame, OWN, MAX)
    assert caught.value.code == code and "（" in caught.value.message  # Chinese, with an English gloss


def test_spoken_text_counts_characters_heard() -> None:
    sentences = [(1, "今天天氣晴朗", 1.2), (0, "好的，我來說明一下。", 2.0), (2, "很適合出門走走。", 1.5)]
    assert spoken_text(sentences, 0, 0) == ""
    assert spoken_text(sentences, 0, 1000) == "好的，我來"
    assert spoken_text(sentences, 1, 600) == "好的，我來說明一下。今天天"
    assert spoken_text(sentences, 2, 99_999) == "好的，我來說明一下。今天天氣晴朗很適合出門走走。"
