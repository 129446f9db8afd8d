"""Every engine a setting can name has its weights' licence on record."""

from __future__ import annotations

import typing

from avatar.licences import ENGINE_WEIGHTS, non_commercial
from avatar.settings import Settings

ENGINE_SETTINGS = ("llm_engine", "asr_engine", "tts_fast_engine", "tts_hq_engine",
                   "tts_oom_fallback_engine", "prosody_emotion_engine")


def _choices(field: str) -> set[str]:
    return {c for c in typing.get_args(Settings.model_fields[field].annotation) if c}


def test_every_engine_has_a_weight_licence_with_its_source() -> None:
    engines = set().union(*(_choices(f) for f in ENGINE_SETTINGS))
    assert engines - set(ENGINE_WEIGHTS) == set()
    for name, entry in ENGINE_WEIGHTS.items():
        assert entry.licence and entry.weights and entry.source, name


def test_non_commercial_names_what_a_commercial_profile_refuses() -> None:
    refused = non_commercial({"tts_fast_engine": "f5", "tts_hq_engine": "cosyvoice", "llm_engine": "openai",
                              "prosody_emotion_engine": ""})
    assert set(refused) == {"tts_fast_engine", "tts_hq_engine"}  # f5 is NC; cosyvoice unconfirmed
    assert refused["tts_fast_engine"].licence == "CC-BY-NC-4.0"
