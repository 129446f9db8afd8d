"""The weight-free TTS engines, run for real: espeak-ng speaks Mandarin here."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from avatar.audio import decode_wav, encode_wav
from avatar.settings import Settings
from workers.engines.registry import engine_report, get_tts_engine
from workers.engines.tts.espeak import EspeakTTS

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed (make test installs it)"
)


def test_espeak_speaks_traditional_chinese() -> None:
    engine = EspeakTTS(settings=Settings())
    assert engine.availability().ok
    clip = engine.synthesize("你好，今天台北天氣晴朗。")
    assert clip.sample_rate == 22050
    assert 0.5 < clip.duration_s < 10
    assert float(np.abs(clip.samples).max()) > 0.05, "silence instead of speech"
    samples, sr = decode_wav(encode_wav(clip.samples, clip.sample_rate))
    assert sr == clip.sample_rate and len(samples) == len(clip.samples)


def test_text_starting_with_a_dash_is_read_not_taken_as_an_option() -> None:
    clip = EspeakTTS(settings=Settings()).synthesize("-v 一二三")
    assert clip.duration_s > 0.3


def test_registry_reports_engines_and_builds_one_per_mode() -> None:
    settings = Settings(profile="tiny", tts_fast_engine="espeak", tts_hq_engine="benchmark")
    assert get_tts_engine("fast", settings).name == "espeak"
    assert get_tts_engine("hq", settings).name == "benchmark"
    report = engine_report(settings)
    assert report["tts_fast"] == {"engine": "espeak", "available": True, "reason": "", "fix": ""}
    assert report["llm"]["engine"] == "transformers"
