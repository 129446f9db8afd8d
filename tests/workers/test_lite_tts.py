"""The ``lite`` cloned voice on real speech references: valid audio, pitch moved toward the
reference's, speaker similarity (resemblyzer) above plain espeak-ng's, an expressive
reference gives a more expressive clone. The engine, espeak-ng, Praat and the encoder are
all real."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatar.settings import Settings
from tests.voices import espeak_reference, f5_references
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.lite import LiteCloneHQTTS, LiteCloneTTS, change_voice, espeak, fit_adaptation
from workers.voice_analysis import prosody_profile, speaker_embedding, speaker_similarity

TEXT = "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("refs")
    refs = {
        "espeak_low": espeak_reference(folder / "low.wav", variant="m3", pitch=15),
        "espeak_high": espeak_reference(folder / "high.wav", variant="f4", pitch=85),
    }
    f5, _why = f5_references()
    return {**refs, **f5}


@pytest.fixture(scope="module")
def engine() -> LiteCloneTTS:
    return LiteCloneTTS(settings=Settings(profile="cpu"))


def _voice(name: str, path: Path) -> VoiceReference:
    samples, sr = sf.read(path, dtype="float32")
    return VoiceReference(profile_id=name, audio_path=path, adaptation={"lite": fit_adaptation(samples, sr).as_dict()})


def test_f5_wheel_references_present_or_skip_with_reason() -> None:
    refs, why = f5_references()
    if not refs:
        pytest.skip(why)
    assert all(p.exists() for p in refs.values())


def test_lite_clones_every_reference(engine: LiteCloneTTS, references: dict[str, Path]) -> None:
    gains = []
    for name, path in references.items():
        ref, sr = sf.read(path, dtype="float32")
        voice = _voice(name, path)
        clip = engine.synthesize(TEXT, voice=voice)
        assert clip.samples.dtype == np.float32 and np.isfinite(clip.samples).all()
        assert 1.0 < clip.duration_s < 20.0 and np.max(np.abs(clip.samples)) <= 1.0

        target = prosody_profile(ref, sr).f0_median_hz
        plain = espeak(TEXT)
        before = abs(np.log2(prosody_profile(plain, 22050).f0_median_hz / target))
        after = abs(np.log2(prosody_profile(clip.samples, clip.sample_rate).f0_median_hz / target))
        assert after < before, f"{name}: F0 median did not move toward the reference's"

        reference_embedding = speaker_embedding(ref, sr)
        lite = speaker_similarity(speaker_embedding(clip.samples, clip.sample_rate), reference_embedding)
        base = speaker_similarity(speaker_embedding(plain, 22050), reference_embedding)
        gains.append(lite - base)
        assert lite > base, f"{name}: lite {lite:.3f} not above plain espeak-ng {base:.3f}"
    assert np.mean(gains) > 0


def test_expressive_reference_gives_a_more_expressive_clone(engine: LiteCloneTTS, tmp_path: Path) -> None:
    # The same speaker read flat and read with twice the pitch movement (Praat, real audio).
    flat_path = espeak_reference(tmp_path / "flat.wav", variant="f2", pitch=50)
    flat, sr = sf.read(flat_path, dtype="float32")
    median = prosody_profile(flat, sr).f0_median_hz
    range_st = prosody_profile(flat, sr).f0_range_st
    lively = change_voice(flat, sr, source_median=median, source_range=range_st, target_median=median,
                          target_range=range_st * 2.2, formant_ratio=1.0)
    lively_path = tmp_path / "lively.wav"
    sf.write(lively_path, lively, sr)
    flat_clone = engine.synthesize(TEXT, voice=_voice("flat", flat_path))
    lively_clone = engine.synthesize(TEXT, voice=_voice("lively", lively_path))
    assert prosody_profile(lively_clone.samples, lively_clone.sample_rate).f0_range_st > \
        prosody_profile(flat_clone.samples, flat_clone.sample_rate).f0_range_st * 1.2


def test_hq_settings_and_style_hint(references: dict[str, Path]) -> None:
    hq = LiteCloneHQTTS(settings=Settings(profile="cpu"))
    voice = _voice("high", references["espeak_high"])
    clip = hq.synthesize(TEXT, voice=voice)
    assert clip.sample_rate == 24_000 and hq.name == "lite_hq"
    calm = hq.synthesize(TEXT, voice=voice, style="calm")
    excited = hq.synthesize(TEXT, voice=voice, style="excited")
    assert excited.duration_s < calm.duration_s  # style hints change the rate


def test_without_a_voice_it_is_plain_espeak(engine: LiteCloneTTS) -> None:
    clip = engine.synthesize("你好")
    assert clip.sample_rate == 22_050 and clip.duration_s > 0.2
