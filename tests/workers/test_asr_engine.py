"""faster-whisper on a tiny random CTranslate2 Whisper that the test generates (the real
loading and transcription code, offline), the hallucination guard, and ``avatar transcribe``."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avatar.model_files import RandomWeights, missing_whisper_files, write_random_weights
from avatar.settings import Settings
from avatar.text_zh import hallucination_in, opencc_config_for, to_traditional
from models.tiny import make_tiny_whisper
from tests.speech_audio import espeak_16k
from workers.engines.asr.base import Transcript, TranscriptSegment
from workers.engines.asr.faster_whisper import FasterWhisperASR, confidence_of
from workers.engines.base import EngineUnavailable
from workers.engines.registry import get_asr_engine
from workers.transcription import rejection_reason

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tiny_asr_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("asr-models")
    make_tiny_whisper(models / "tiny" / "asr")
    return models


def test_tiny_whisper_folder_is_complete_and_multilingual(tiny_asr_models: Path) -> None:
    folder = tiny_asr_models / "tiny" / "asr"
    assert missing_whisper_files(folder) == []
    vocabulary = json.loads((folder / "vocabulary.json").read_text())
    assert "" in vocabulary and "<|zh|>" in vocabulary  # multilingual to CTranslate2
    config = json.loads((folder / "preprocessor_config.json").read_text())
    assert config["feature_size"] == 80


def test_transcribes_mandarin_with_language_zh(tiny_asr_models: Path) -> None:
    settings = Settings(profile="tiny", models_dir=tiny_asr_models)
    engine = get_asr_engine(settings)  # the call the voice-cloning helper makes
    assert isinstance(engine, FasterWhisperASR) and engine.availability().ok
    speech = espeak_16k("你好，請問今天天氣怎麼樣")
    transcript = engine.transcribe(speech)
    assert transcript.language == "zh"  # honoured, not silently English
    assert abs(transcript.duration_s - len(speech) / 16_000) < 0.01
    assert 0.0 <= transcript.confidence <= 1.0 and 0.0 <= transcript.no_speech_prob <= 1.0
    assert transcript.text == "".join(s.text for s in transcript.segments).strip()
    assert "\ufffd" not in transcript.text and all(ch.isprintable() for ch in transcript.text)
    partial = engine.transcribe(speech[:16_000], partial=True)
    assert partial.language == "zh"


def test_missing_model_is_unavailable_with_the_fix(tmp_path: Path) -> None:
    engine = FasterWhisperASR(settings=Settings(profile="cpu", models_dir=tmp_path))
    availability = engine.availability()
    assert not availability.ok and availability.fix == "avatar models download asr"
    assert "faster-whisper-small" in availability.reason
    with pytest.raises(EngineUnavailable):
        engine.transcribe(np.zeros(16_000, np.float32))


def test_traditional_output_and_known_hallucinations() -> None:
    assert to_traditional("谢谢观看，软件信息") == "謝謝觀看，軟體資訊"
    assert hallucination_in("謝謝觀看！") and hallucination_in("请不吝点赞订阅".replace("请不吝点赞", "請不吝點贊"))
    assert hallucination_in("我明天要去台北看電影") is None


def test_no_opencc_on_a_model_that_writes_traditional(
    tiny_asr_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Breeze-ASR-25 writes Taiwan Traditional itself: its folder (the manifest's conversion
    output) skips OpenCC; every other Whisper still goes through s2twp."""

    from workers.engines.asr import faster_whisper

    assert opencc_config_for("/m/faster-whisper-breeze-asr-25", "s2twp") == ""
    assert opencc_config_for("/m/Breeze-ASR-25", "s2twp") == ""
    assert opencc_config_for("/m/faster-whisper-large-v3-turbo", "s2twp") == "s2twp"
    breeze = tmp_path / "faster-whisper-breeze-asr-25"
    shutil.copytree(tiny_asr_models / "tiny" / "asr", breeze)
    configs: list[str] = []

    def recording(text: str, config: str = "s2twp") -> str:
        configs.append(config)
        return to_traditional(text, config)

    monkeypatch.setattr(faster_whisper, "to_traditional", recording)
    speech = espeak_16k("你好，請問今天天氣怎麼樣")
    FasterWhisperASR(settings=Settings(profile="tiny", asr_model=str(breeze))).transcribe(speech)
    FasterWhisperASR(settings=Settings(profile="tiny", models_dir=tiny_asr_models)).transcribe(speech)
    assert "" in configs and "s2twp" in configs and set(configs) == {"", "s2twp"}


def test_breezes_manifest_recipe_makes_a_folder_faster_whisper_loads(tmp_path: Path) -> None:
    """Breeze-ASR-25 is published as a transformers Whisper: the manifest's convert step (the
    real ct2-transformers-converter, float16, tokenizer and mel config copied) run on a tiny
    transformers Whisper of that layout gives a folder the faster_whisper engine transcribes
    with, offline and without OpenCC."""
    from models.pull import DEFAULT_MANIFEST, Manifest, convert_entry

    breeze = Manifest.load(DEFAULT_MANIFEST).models["breeze-asr-25"]
    assert breeze.convert is not None and breeze.local_dir
    src = make_tiny_whisper(tmp_path / breeze.local_dir, transformers_only=True)
    assert missing_whisper_files(src) != []  # not loadable by faster-whisper as published
    dest = convert_entry(breeze, src, tmp_path / breeze.convert.local_dir, log=lambda line: None)
    assert missing_whisper_files(dest) == []
    assert json.loads((dest / "preprocessor_config.json").read_text())["feature_size"] == 80
    assert opencc_config_for(dest, "s2twp") == ""
    transcript = FasterWhisperASR(settings=Settings(profile="tiny", asr_model=str(dest))).transcribe(
        espeak_16k("你好，請問今天天氣怎麼樣"))
    assert transcript.language == "zh" and 0.0 <= transcript.confidence <= 1.0


def _transcript(text: str, logprob: float = -0.1, no_speech: float = 0.01) -> Transcript:
    seg = TranscriptSegment(0.0, 1.0, text, logprob, no_speech)
    return Transcript(text, confidence_of([seg]), no_speech, "zh", 1.0, [seg])


def test_hallucination_guard() -> None:
    settings = Settings(profile="cpu")
    assert rejection_reason(_transcript("今天天氣很好"), settings) is None
    assert rejection_reason(_transcript(""), settings) == "empty"
    assert rejection_reason(_transcript("嗯", no_speech=0.9), settings) == "no_speech"
    assert rejection_reason(_transcript("謝謝觀看"), settings) == "hallucination"
    assert rejection_reason(_transcript("今天天氣很好", logprob=-3.0), settings) == "low_confidence"
    assert confidence_of([]) == 0.0


def test_avatar_transcribe_prints_the_transcript(tiny_asr_models: Path, tmp_path: Path) -> None:
    import soundfile as sf

    wav = tmp_path / "hello.wav"
    sf.write(wav, espeak_16k("你好"), 16_000)
    env = {**os.environ, "AVATAR_PROFILE": "tiny", "AVATAR_MODELS_DIR": str(tiny_asr_models)}
    done = subprocess.run([sys.executable, "-m", "cli", "transcribe", str(wav), "--json"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    body = json.loads(done.stdout)
    assert body["language"] == "zh" and "text" in body and body["segments"] is not None
    missing = subprocess.run([sys.executable, "-m", "cli", "transcribe", str(wav)],
                             env={**env, "AVATAR_PROFILE": "cpu", "AVATAR_MODELS_DIR": str(tmp_path)},
                             cwd=REPO, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "avatar models download asr" in missing.stderr


def test_a_random_weights_whisper_writes_a_transcript_as_long_as_the_speech(
    tiny_asr_models: Path, tmp_path: Path
) -> None:
    """A folder declaring random weights decodes ``tokens_per_s`` tokens per second of audio
    (end of text suppressed, one decode) and reports its stand-in text, one character a token."""
    folder = tmp_path / "random-asr"
    shutil.copytree(tiny_asr_models / "tiny" / "asr", folder)
    write_random_weights(folder, RandomWeights(text="今天台北天氣怎麼樣", tokens_per_s=4))
    engine = FasterWhisperASR(settings=Settings(profile="tiny", asr_model=str(folder)))
    speech = espeak_16k("你好，請問今天天氣怎麼樣")
    seconds = len(speech) / 16_000

    transcript = engine.transcribe(speech)

    expected = math.ceil(seconds * 4)  # CTranslate2 may count its start token: one either way
    assert abs(len(transcript.text) - expected) <= 1, (transcript.text, seconds)
    assert transcript.text == ("今天台北天氣怎麼樣" * 4)[:len(transcript.text)]
