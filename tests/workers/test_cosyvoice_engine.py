"""The ``cosyvoice`` engine running CosyVoice 2's own code, in the ``cosyvoice`` engine
environment, on the tiny random CosyVoice 2 folder that :mod:`models.tiny_cosyvoice` writes.

Nothing is mocked: the env is built when missing (``engine_env``), the tiny model is generated
by the package's own classes there, and each case runs :class:`CosyVoiceTTS` in that env's
python (:mod:`tests.engine_probes.cosyvoice_probe`: availability, loading through the VRAM
budget in Redis, the package's ``CosyVoice2`` and its generators), hubs offline. The probe
records which generator the adapter called on the real model object and what the package's
own front end then received. The model is random: the audio is noise of the right rate.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
import redis
import soundfile as sf

from avatar.audio_io import resample
from avatar.settings import Settings
from models.download import ModelSetupError
from models.tiny_cosyvoice import SPEECH_TOKEN_SIZE, is_complete, make_tiny_cosyvoice2
from tests.conftest import REDIS_BASE, REDIS_DB
from tests.engine_probes.cosyvoice_run import run_cosyvoice_probe
from tests.voices import REFERENCE_TEXT, espeak_reference
from workers.engines.tts.cosyvoice import INSTRUCTIONS
from workers.engines.tts.gpu_host import model_host
from workers.engines.tts.neural import NEEDS_TRANSCRIPT_FIX

SENTENCE = "今天台北天氣晴朗，我們一起去公園散步吧。"
FOLDER = "tiny/cosyvoice2"
# A first run builds the engine env (minutes) inside the first fixture that asks for it.


def slow_env_test(test: Any) -> Any:
    """Slow, and past the suite's 300 s timeout: a first run builds the env in its fixture."""
    return pytest.mark.timeout(1800)(pytest.mark.slow(test))


def test_without_its_env_the_tiny_model_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVATAR_ENGINE_ENVS_DIR", str(tmp_path / "no-envs"))  # no env built there
    with pytest.raises(ModelSetupError, match="avatar engines install cosyvoice"):
        make_tiny_cosyvoice2(tmp_path / "models" / FOLDER)
    assert not (tmp_path / "models" / FOLDER).exists(), "nothing half-written"


@pytest.fixture(scope="module")
def cosyvoice_python(engine_env: Any) -> Path:
    return engine_env("cosyvoice")


@pytest.fixture(scope="module")
def cosyvoice_models(cosyvoice_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("cosyvoice-models")
    make_tiny_cosyvoice2(models_dir / FOLDER, python=cosyvoice_python)
    assert is_complete(models_dir / FOLDER)
    return models_dir


@pytest.fixture(scope="module")
def probe_env(cosyvoice_models: Path) -> dict[str, str]:
    url = f"{REDIS_BASE}/{REDIS_DB['cloning_units']}"
    redis.Redis.from_url(url).flushdb()
    return {"AVATAR_PROFILE": "tiny-gpu", "AVATAR_MODELS_DIR": str(cosyvoice_models), "AVATAR_REDIS_URL": url}


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("cosyvoice-refs")
    ref = espeak_reference(folder / "ref.wav", variant="f2", pitch=60)  # 22.05 kHz, ~6 s
    samples, sr = sf.read(ref, dtype="float32")
    sf.write(folder / "ref-48000.wav", resample(samples, sr, 48_000), 48_000)
    return {"espeak": ref, "sr48000": folder / "ref-48000.wav"}


def case(name: str, ref: Path, transcript: str = REFERENCE_TEXT, text: str = SENTENCE,
         style: str | None = None, **settings: Any) -> dict:
    return {"name": name, "text": text, "style": style, "voice": {"audio_path": str(ref), "transcript": transcript},
            "settings": {k: str(v) for k, v in settings.items()}}


@slow_env_test
def test_tiny_model_files_and_front_end_signatures(cosyvoice_models: Path) -> None:
    folder = cosyvoice_models / FOLDER
    config = (folder / "cosyvoice2.yaml").read_text()
    for cls in ("cosyvoice.llm.llm.Qwen2LM", "cosyvoice.flow.flow.CausalMaskedDiffWithXvec",
                "cosyvoice.hifigan.generator.HiFTGenerator", "cosyvoice.tokenizer.tokenizer.get_qwen_tokenizer"):
        assert cls in config
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total < 60_000_000, f"tiny: {total} bytes"  # flow.pt dominates: the encoder's width is fixed at 512
    # The front ends take and give what CosyVoice's own front end passes them (run here, in the
    # main environment's onnxruntime).
    campplus = onnxruntime.InferenceSession(str(folder / "campplus.onnx"), providers=["CPUExecutionProvider"])
    embedding = campplus.run(None, {campplus.get_inputs()[0].name: np.random.rand(1, 120, 80).astype(np.float32)})[0]
    assert embedding.shape == (1, 192)
    tokenizer = onnxruntime.InferenceSession(str(folder / "speech_tokenizer_v2.onnx"), providers=["CPUExecutionProvider"])
    names = [i.name for i in tokenizer.get_inputs()]
    mel = np.random.randn(1, 128, 400).astype(np.float32)
    tokens = tokenizer.run(None, {names[0]: mel, names[1]: np.array([400], np.int32)})[0]
    assert tokens.shape == (1, 100), "25 tokens per second of 100 Hz mel frames"
    assert tokens.min() >= 0 and tokens.max() < SPEECH_TOKEN_SIZE and len(np.unique(tokens)) > 1


@pytest.fixture(scope="module")
def synthesized(cosyvoice_python: Path, probe_env: dict[str, str], references: dict[str, Path]) -> dict[str, dict]:
    """Every synthesis case in one process of the env (the model loads once)."""
    cases = [
        case("zero_shot", references["espeak"]),
        case("again", references["espeak"], text="明天下午可能會有午後雷陣雨，出門記得帶傘。"),
        case("happy", references["espeak"], style="happy"),
        case("free_style", references["espeak"], style="用溫柔的台灣腔慢慢說"),
        case("sr48000", references["sr48000"]),
        case("no_transcript", references["espeak"], transcript="  "),
        case("empty", references["espeak"], text=""),
        case("punctuation_only", references["espeak"], text="……！？"),
    ]
    return {r["name"]: r for r in run_cosyvoice_probe(cosyvoice_python, "synth", cases, env=probe_env)}


def methods(result: dict) -> list[str]:
    return [call["method"] for call in result["calls"]]


@slow_env_test
def test_zero_shot_synthesizes_24khz_audio(synthesized: dict[str, dict]) -> None:
    first, again = synthesized["zero_shot"], synthesized["again"]
    assert "error" not in first, first
    assert first["sample_rate"] == 24_000 and first["dtype"] == "float32" and first["finite"]
    assert 0 < first["peak"] <= 1.0, "HiFT limits its output to ±0.99"
    # The text LLM is there: without it (cosyvoice-minicpmo's CosyVoice2 as shipped) no speech
    # tokens come and the clip is a few samples. Its minimum is 2 speech tokens (80 ms) per text token.
    assert 0.5 < first["duration_s"] < 30.0, first
    print(f"\nCosyVoice 2 tiny on CPU: first sentence {first['seconds']:.2f}s (loading included), "
          f"next {again['seconds']:.2f}s for {again['duration_s']:.2f}s of audio")


def generators(result: dict) -> list[dict]:
    return [call for call in result["calls"] if call["method"].startswith("inference_")]


@slow_env_test
def test_the_reference_and_its_transcript_reach_the_package(synthesized: dict[str, dict]) -> None:
    zero_shot = synthesized["zero_shot"]
    # One generator call per sentence (the adapter splits at sentence ends), each followed by the
    # package's own front end.
    assert methods(zero_shot) == ["inference_zero_shot", "frontend_zero_shot"] * len(generators(zero_shot))
    assert "".join(call["tts_text"] for call in generators(zero_shot)) == SENTENCE
    for generator in generators(zero_shot):
        assert generator["prompt_text"] == REFERENCE_TEXT
        assert generator["text_frontend"] is False, "our zh-TW normalisation, not CosyVoice's mainland one"
        # The installed package takes the older shape: a (1, N) tensor at 16 kHz, at most 30 s.
        shape = generator["prompt_speech_16k"]["tensor"]
        assert shape[0] == 1 and 16_000 * 3 < shape[1] <= 16_000 * 30
    front_ends = [call for call in zero_shot["calls"] if call["method"] == "frontend_zero_shot"]
    assert {call["prompt_text"] for call in front_ends} == {REFERENCE_TEXT}, "the package's front end got it"
    resampled = synthesized["sr48000"]
    assert "error" not in resampled and resampled["sample_rate"] == 24_000
    assert generators(resampled)[0]["prompt_speech_16k"]["tensor"][1] == pytest.approx(shape[1], abs=160)


@slow_env_test
def test_a_style_takes_the_instruct_path(synthesized: dict[str, dict]) -> None:
    happy = synthesized["happy"]
    assert "error" not in happy and happy["sample_rate"] == 24_000, happy
    per_sentence = ["inference_instruct2", "frontend_instruct2", "frontend_zero_shot"]
    assert methods(happy) == per_sentence * len(generators(happy))
    generator, instruct, zero_shot = happy["calls"][:3]
    assert generator["instruct_text"] == INSTRUCTIONS["happy"] and "prompt_text" not in generator
    assert instruct["instruct_text"] == INSTRUCTIONS["happy"]
    # This package's front end ends the instruction with the marker itself (upstream's current
    # one leaves it to the caller, and the adapter adds it there).
    assert zero_shot["prompt_text"] == INSTRUCTIONS["happy"] + "<|endofprompt|>"
    free = synthesized["free_style"]
    assert {call["instruct_text"] for call in generators(free)} == {"用溫柔的台灣腔慢慢說"}
    assert "inference_zero_shot" not in methods(free)


@slow_env_test
def test_nothing_to_pronounce_is_a_short_pause_without_calling_the_model(synthesized: dict[str, dict]) -> None:
    """The package itself fails on it: no text token, no speech token, and its flow meets an
    empty (float) tensor (``indices ... got torch.FloatTensor``)."""
    for name in ("empty", "punctuation_only"):
        result = synthesized[name]
        assert "error" not in result, result
        assert result["calls"] == [] and 0 < result["duration_s"] <= 0.5 and result["peak"] == 0.0, result


@slow_env_test
def test_a_voice_without_transcript_is_refused_with_the_fix(synthesized: dict[str, dict]) -> None:
    error = synthesized["no_transcript"]["error"]
    assert error["engine"] == "cosyvoice" and "transcript" in error["reason"] and error["fix"] == NEEDS_TRANSCRIPT_FIX
    assert synthesized["no_transcript"]["calls"] == [], "refused before the model is called"


@slow_env_test
def test_broken_or_missing_checkpoints_name_the_fix(
    cosyvoice_python: Path, probe_env: dict[str, str], cosyvoice_models: Path, references: dict[str, Path],
    tmp_path: Path,
) -> None:
    def copy(name: str) -> Path:
        shutil.copytree(cosyvoice_models / "tiny", tmp_path / name / "tiny")
        return tmp_path / name

    truncated = copy("truncated")
    flow = truncated / FOLDER / "flow.pt"
    flow.write_bytes(flow.read_bytes()[:4000])
    garbage = copy("garbage")
    (garbage / FOLDER / "campplus.onnx").write_bytes(b"not an onnx model" * 64)
    no_llm = copy("no_llm")
    (no_llm / FOLDER / "llm.pt").unlink()
    no_folder = tmp_path / "no_folder"
    no_folder.mkdir()
    # a CosyVoice 3 folder layout (its config and v3 speech tokenizer) on the env's CosyVoice 2 package
    v3 = copy("v3")
    (v3 / FOLDER / "cosyvoice2.yaml").rename(v3 / FOLDER / "cosyvoice3.yaml")
    shutil.copy(v3 / FOLDER / "speech_tokenizer_v2.onnx", v3 / FOLDER / "speech_tokenizer_v3.onnx")
    cases = [case(name, references["espeak"], models_dir=folder) for name, folder in {
        "truncated": truncated, "garbage": garbage, "no_llm": no_llm, "no_folder": no_folder, "v3": v3}.items()]
    results = {r["name"]: r for r in run_cosyvoice_probe(cosyvoice_python, "synth", cases, env=probe_env)}
    assert "flow.pt is not a PyTorch checkpoint" in results["truncated"]["error"]["reason"]
    assert "campplus.onnx failed" in results["garbage"]["error"]["reason"], "onnxruntime names the file"
    for name in ("truncated", "garbage"):
        error = results[name]["error"]
        assert error["reason"].startswith("cannot load the CosyVoice checkpoint at"), error
        assert "avatar models tiny" in error["fix"], error
    assert "lacks llm.pt" in results["no_llm"]["error"]["reason"]
    assert "not found" in results["no_folder"]["error"]["reason"]
    for name in ("no_llm", "no_folder"):
        assert "avatar models tiny" in results[name]["error"]["fix"], results[name]
    v3_error = results["v3"]["error"]
    assert "is a CosyVoice 3 checkpoint" in v3_error["reason"] and "no CosyVoice3" in v3_error["reason"], v3_error
    assert "FunAudioLLM/CosyVoice" in v3_error["fix"] and "AVATAR_COSYVOICE_MODEL_DIR" in v3_error["fix"]
    # A failed load gives its VRAM booking back: nothing stays booked for CosyVoice.
    budget = model_host(Settings(redis_url=probe_env["AVATAR_REDIS_URL"])).budget
    assert not [m for m in budget.snapshot()["models"] if "cosyvoice" in m]
