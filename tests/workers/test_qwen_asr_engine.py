"""The ``qwen_asr`` engine running the qwen-asr package's own code, in the ``qwen-asr`` engine
environment, on the tiny random Qwen3-ASR folder that :mod:`models.tiny_qwen_asr` writes.

Nothing is mocked: the env is built when missing (``engine_env``), the tiny model is written by
the package's own config, model and processor classes there, and each case runs
:class:`QwenASR` in that env's python (:mod:`tests.engine_probes.qwen_asr_probe`), hubs offline,
on real speech (espeak-ng Mandarin). The weights are random: the text is gibberish, so the
assertions are on its structure and types, the OpenCC path and the hallucination guard.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from avatar import engine_envs
from avatar.settings import Settings
from avatar.text_zh import to_traditional
from cli import launcher
from models.download import ModelSetupError
from models.tiny import tiny_models_of_profile
from models.tiny_qwen_asr import is_complete, make_tiny_qwen_asr
from tests.engine_probes.qwen_asr_run import run_qwen_asr_probe
from workers.engines.asr.base import Transcript, TranscriptSegment
from workers.engines.registry import get_asr_engine
from workers.transcription import rejection_reason

FOLDER = "tiny/qwen-asr"
SPEECH = "今天天氣很好，我們去公園散步吧"
# Characters OpenCC s2twp changes: none may be left in a transcript.
SIMPLIFIED = "这们请问软识别谢欢气园"


def slow_env_test(test: Any) -> Any:
    """Slow, and past the suite's 300 s timeout: a first run builds the env in its fixture."""
    return pytest.mark.timeout(1800)(pytest.mark.slow(test))


# --- in the main environment (no qwen_asr package here) -----------------------------------


def test_in_the_main_environment_it_names_the_engine_env(tmp_path: Path) -> None:
    settings = Settings(profile="tiny", asr_engine="qwen_asr", models_dir=tmp_path)
    engine = get_asr_engine(settings)
    assert engine.name == "qwen_asr"
    availability = engine.availability()
    assert not availability.ok and "qwen-asr" in availability.reason
    assert availability.fix.startswith("avatar engines install qwen-asr")
    # The asr lane's worker runs from that env, and the health check names it when missing.
    assert engine_envs.env_for_lane(settings, "asr") == "qwen-asr"
    assert engine_envs.required_envs(settings) == ["qwen-asr"]
    assert f"command = {engine_envs.python_of('qwen-asr')} -m cli worker --lane asr" in launcher.render_config(settings)
    assert f"command = {sys.executable} -m cli worker --lane asr" in launcher.render_config(Settings(profile="tiny"))
    assert settings.qwen_asr_model == str(tmp_path / FOLDER) == settings.active_asr_model
    assert Settings(profile="gpu", models_dir=tmp_path).qwen_asr_model == str(tmp_path / "Qwen3-ASR-1.7B")
    # `avatar models tiny` writes the tiny Qwen3-ASR only when the engine is chosen.
    assert "qwen-asr" in tiny_models_of_profile("tiny", {"asr_engine": "qwen_asr"})
    assert "qwen-asr" not in tiny_models_of_profile("tiny-gpu", {"asr_engine": "faster_whisper"})
    assert {"f5-tts", "cosyvoice2"} <= set(tiny_models_of_profile("tiny-gpu"))
    assert tiny_models_of_profile("tiny") == ["llm", "asr", "vllm-qwen2", "emotion"]


def test_without_its_env_the_tiny_model_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVATAR_ENGINE_ENVS_DIR", str(tmp_path / "no-envs"))
    with pytest.raises(ModelSetupError, match="avatar engines install qwen-asr"):
        make_tiny_qwen_asr(tmp_path / "models" / FOLDER)
    assert not (tmp_path / "models" / FOLDER).exists(), "nothing half-written"


# --- in the qwen-asr engine environment -----------------------------------------------------


@pytest.fixture(scope="module")
def qwen_python(engine_env: Any) -> Path:
    return engine_env("qwen-asr")


@pytest.fixture(scope="module")
def qwen_models(qwen_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("qwen-asr-models")
    make_tiny_qwen_asr(models_dir / FOLDER, python=qwen_python)
    assert is_complete(models_dir / FOLDER)
    return models_dir


def case(name: str, audio: dict[str, Any] | None = None, partial: bool = False, **settings: Any) -> dict[str, Any]:
    return {"name": name, "audio": audio or {"speech": SPEECH}, "partial": partial,
            "settings": {k: str(v) for k, v in settings.items()}}


@pytest.fixture(scope="module")
def results(qwen_python: Path, qwen_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    empty = tmp_path_factory.mktemp("no-qwen-models")
    broken = tmp_path_factory.mktemp("broken-qwen-models")
    shutil.copytree(qwen_models / "tiny", broken / "tiny")
    weights = broken / FOLDER / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:2000])
    partial_model = str(qwen_models / FOLDER)
    cases = [
        case("speech"),
        case("again", {"speech": "請問捷運的末班車是幾點"}),
        case("thanks", {"speech": "謝謝你的幫忙"}),
        case("short", {"speech": "好"}),
        case("silence", {"silence_s": 1.5}),
        case("forced_chinese", qwen_asr_language="chinese"),
        case("partial", {"speech": SPEECH[:6]}, partial=True, asr_partial_model=partial_model),
        case("unknown_language", qwen_asr_language="Klingon"),
        case("strict", asr_min_confidence=0.999),
        case("no_weights", models_dir=empty),
        case("broken_weights", models_dir=broken),
        case("int8", asr_compute_type="int8"),
        {"name": "slot", "no_speech_slot": True},
    ]
    env = {"AVATAR_PROFILE": "tiny", "AVATAR_ASR_ENGINE": "qwen_asr", "AVATAR_MODELS_DIR": str(qwen_models),
           "AVATAR_QWEN_ASR_MAX_NEW_TOKENS": "48"}  # a random model seldom stops by itself
    return run_qwen_asr_probe(qwen_python, cases, env=env)


@slow_env_test
def test_tiny_model_has_the_real_layout(qwen_models: Path) -> None:
    folder = qwen_models / FOLDER
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "qwen3_asr" and config["architectures"] == ["Qwen3ASRForConditionalGeneration"]
    thinker = config["thinker_config"]
    assert thinker["audio_config"]["num_mel_bins"] == 128 and "Chinese" in config["support_languages"]
    tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tokenizer_config["audio_token"] == "<|audio_pad|>"
    assert json.loads((folder / "preprocessor_config.json").read_text())["feature_size"] == 128
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 2_000_000, f"tiny: {total} bytes"


@slow_env_test
def test_transcribes_real_speech_with_the_package(results: dict[str, dict]) -> None:
    for name in ("speech", "again", "thanks", "short"):
        result = results[name]
        assert result["availability"] == {"available": True, "reason": "", "fix": ""}, result
        assert "error" not in result, result
        transcript = result["transcript"]
        assert result["types"] == {"text": "str", "confidence": "float", "no_speech_prob": "float",
                                   "language": "str", "duration_s": "float", "segments": "list"}
        assert 0.0 <= transcript["confidence"] <= 1.0 and 0.0 <= transcript["no_speech_prob"] <= 1.0
        assert transcript["duration_s"] > 0.3
        if transcript["text"]:
            (segment,) = transcript["segments"]
            assert segment["text"] == transcript["text"] and segment["end_s"] == transcript["duration_s"]
            assert segment["avg_logprob"] <= 0.0
        assert "\ufffd" not in transcript["text"] and all(ch.isprintable() for ch in transcript["text"])
    assert results["speech"]["loaded"] == ["Qwen3ASRForConditionalGeneration/Qwen3ASRProcessor/torch.float32"]
    print(f"\nQwen3-ASR tiny on CPU: first utterance {results['speech']['seconds']:.2f}s (loading included), "
          f"next {results['again']['seconds']:.2f}s")


@slow_env_test
def test_the_text_is_the_packages_parse_in_traditional_characters(results: dict[str, dict]) -> None:
    converted = 0
    for name in ("speech", "again", "thanks", "short", "forced_chinese", "strict"):
        result = results[name]
        (parsed,) = result["parsed"]  # one pass of the model per utterance, parsed by the package
        assert result["transcript"]["text"] == to_traditional(parsed["text"], "s2twp"), result
        assert not set(SIMPLIFIED) & set(result["transcript"]["text"])
        converted += to_traditional(parsed["text"], "s2twp") != parsed["text"].strip()
    assert converted, "the tiny vocabulary holds Simplified characters: some output must have been converted"


@slow_env_test
def test_language_identification_gives_the_no_speech_figure(results: dict[str, dict]) -> None:
    auto = results["speech"]
    (parsed,) = auto["parsed"]
    assert parsed["user_language"] is None  # the model writes "language X<asr_text>..." itself
    forced = results["forced_chinese"]
    (forced_parse,) = forced["parsed"]
    assert forced_parse["user_language"] == "Chinese" and forced_parse["language"] == "Chinese"
    assert forced["transcript"]["language"] == "zh"
    if forced["transcript"]["text"]:
        assert forced["transcript"]["no_speech_prob"] == 0.0, "a forced language leaves no slot to read"


@slow_env_test
def test_the_no_speech_figure_is_read_at_the_language_slot(results: dict[str, dict]) -> None:
    """Qwen3-ASR answers ``language None`` for audio without speech: the probability at that
    slot, in the real tokenizer's tokens, is the no-speech probability."""
    assert results["slot"]["slot"] == {"none": 0.8, "chinese": 0.8, "untagged": 0.0}


@slow_env_test
def test_the_hallucination_guard_applies(results: dict[str, dict]) -> None:
    for name in ("speech", "silence", "short"):
        result = results[name]
        assert result["rejection"] in (None, "empty", "no_speech", "hallucination", "low_confidence"), result
        if not result["transcript"]["text"]:
            assert result["rejection"] == "empty" and result["transcript"]["no_speech_prob"] == 1.0
    strict = results["strict"]
    assert strict["rejection"] in ("empty", "no_speech", "low_confidence"), strict
    # The same guard, in this environment, on what the engine returned.
    data = results["speech"]["transcript"]
    transcript = Transcript(**{**data, "segments": [TranscriptSegment(**s) for s in data["segments"]]})
    assert rejection_reason(transcript, Settings(asr_min_confidence=0.0, asr_max_no_speech_prob=1.0)) in (None, "empty")
    invented = Transcript("謝謝觀看！", 0.9, 0.0, "zh", 1.0)
    assert rejection_reason(invented, Settings()) == "hallucination"


@slow_env_test
def test_partials_take_the_partial_model(results: dict[str, dict]) -> None:
    result = results["partial"]
    assert "error" not in result, result
    assert 0.0 <= result["transcript"]["confidence"] <= 1.0 and len(result["parsed"]) == 1


@slow_env_test
def test_missing_or_broken_weights_name_the_fix(results: dict[str, dict]) -> None:
    missing = results["no_weights"]
    assert missing["availability"]["available"] is False
    reason = missing["availability"]["reason"]
    assert "no Qwen3-ASR model at" in reason and "missing directory" in reason
    assert missing["availability"]["fix"] == "avatar models tiny"
    assert missing["error"]["engine"] == "qwen_asr" and missing["error"]["fix"] == "avatar models tiny"
    broken = results["broken_weights"]
    assert broken["availability"]["available"] is True, "the files are there: only loading tells"
    assert broken["error"]["reason"].startswith("cannot load the Qwen3-ASR checkpoint at"), broken
    assert broken["error"]["fix"] == "avatar models tiny --force"
    int8 = results["int8"]
    assert int8["availability"]["available"] is False and "float32" in int8["availability"]["fix"]
    unknown = results["unknown_language"]
    assert "Klingon" in unknown["error"]["reason"] and "Chinese" in unknown["error"]["fix"]
    assert unknown["error"]["engine"] == "qwen_asr"
