"""Every engine a setting can name has its weights' licence on record, and
``AVATAR_LICENCE=commercial`` refuses the ones not licensed for commercial use."""

from __future__ import annotations

import typing

from avatar.licences import ENGINE_SETTINGS, ENGINE_WEIGHTS, non_commercial
from avatar.settings import Settings


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


def test_a_commercial_deployment_refuses_non_commercial_weights_at_startup(tmp_path) -> None:  # noqa: ANN001
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as refused:
        Settings(data_dir=tmp_path, profile="gpu", licence="commercial", tts_fast_engine="f5", tts_hq_engine="cosyvoice")
    message = str(refused.value)
    assert "tts_fast_engine=f5" in message and "CC-BY-NC-4.0" in message
    assert "tts_hq_engine=cosyvoice" in message  # unconfirmed counts as not commercial
    # left to the profile, the gpu profile's speech tiers become VoxCPM (Apache-2.0 weights)
    commercial_gpu = Settings(data_dir=tmp_path, profile="gpu", licence="commercial")
    assert (commercial_gpu.tts_fast_engine, commercial_gpu.tts_hq_engine) == ("voxcpm", "voxcpm")
    assert Settings(data_dir=tmp_path, profile="gpu").tts_fast_engine == "f5"
    with pytest.raises(ValidationError, match="prosody_emotion_engine=wav2vec2_msp_dim"):
        Settings(data_dir=tmp_path, licence="commercial", prosody_emotion_engine="wav2vec2_msp_dim")
    # the cpu profile's engines (Qwen2.5, Whisper, the lite voices, espeak) all allow it
    assert Settings(data_dir=tmp_path, licence="commercial").licence == "commercial"


def test_the_switch_reads_the_environment(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import pytest
    from pydantic import ValidationError

    monkeypatch.setenv("AVATAR_LICENCE", "commercial")
    monkeypatch.setenv("AVATAR_TTS_FAST_ENGINE", "f5")
    with pytest.raises(ValidationError, match="AVATAR_LICENCE=commercial refuses"):
        Settings(data_dir=tmp_path)
