"""The ``f5`` engine running F5-TTS's own code, in the ``f5`` engine environment, on the tiny
random F5-TTS v1 (DiT + CFM) and Vocos that :mod:`models.tiny_f5` writes.

Nothing is mocked: the env is built when missing (``engine_env``), the tiny model is generated
by f5_tts's own classes there, and each case runs :class:`F5TTSEngine` in that env's python
(:mod:`tests.engine_probes.f5_probe`: availability, loading through the VRAM budget in Redis,
``F5TTS(...)`` and its ``infer``), with Hugging Face offline, so a call that would fetch Whisper
fails. The model is random: the audio is noise of the right rate and length.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import soundfile as sf

from avatar.audio_io import resample
from avatar.settings import Settings
from models.tiny_f5 import F5_FOLDER, VOCOS_FOLDER, is_complete, make_tiny_f5
from tests.conftest import REDIS_BASE, REDIS_DB
from tests.engine_probes.f5_run import run_f5_probe
from tests.voices import REFERENCE_TEXT, espeak_reference
from workers.engines.tts.gpu_host import model_host
from workers.engines.tts.neural import NEEDS_TRANSCRIPT_FIX

pytestmark = pytest.mark.slow
SENTENCE = "今天台北天氣晴朗，我們一起去公園散步吧。"


@pytest.fixture(scope="module")
def f5_python(engine_env: Any) -> Path:
    return engine_env("f5")


@pytest.fixture(scope="module")
def f5_models(f5_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("f5-models")
    make_tiny_f5(models_dir / "tiny" / F5_FOLDER, python=f5_python)
    assert is_complete(models_dir / "tiny")
    return models_dir


@pytest.fixture(scope="module")
def probe_env(f5_models: Path) -> dict[str, str]:
    url = f"{REDIS_BASE}/{REDIS_DB['f5']}"
    redis.Redis.from_url(url).flushdb()
    return {"AVATAR_PROFILE": "tiny-gpu", "AVATAR_MODELS_DIR": str(f5_models), "AVATAR_REDIS_URL": url}


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("f5-refs")
    ref = espeak_reference(folder / "ref.wav", variant="f2", pitch=60)  # 22.05 kHz, ~6 s
    samples, sr = sf.read(ref, dtype="float32")
    refs = {"espeak": ref}
    for rate in (8_000, 48_000):  # neither is F5's 24 kHz
        sf.write(folder / f"ref-{rate}.wav", resample(samples, sr, rate), rate)
        refs[f"sr{rate}"] = folder / f"ref-{rate}.wav"
    gap = np.zeros(int(0.3 * sr), dtype=np.float32)
    sf.write(folder / "long.wav", np.concatenate([samples, gap, samples, gap, samples, gap, samples]), sr)
    refs["long"] = folder / "long.wav"
    return refs


def case(name: str, ref: Path, transcript: str = REFERENCE_TEXT, text: str = SENTENCE, **settings: Any) -> dict:
    return {"name": name, "text": text, "voice": {"audio_path": str(ref), "transcript": transcript},
            "settings": {k: str(v) for k, v in settings.items()}}


def test_tiny_model_files(f5_models: Path) -> None:
    f5, vocos = f5_models / "tiny" / F5_FOLDER, f5_models / "tiny" / VOCOS_FOLDER
    vocab = (f5 / "vocab.txt").read_text(encoding="utf-8").split("\n")
    assert vocab[0] == " ", "F5 maps unknown tokens to id 0: the space"
    assert any(t.startswith("tian1") for t in vocab), "pinyin tokens, as F5's Chinese tokenizer writes"
    assert "backbone: DiT" in (f5 / "model.yaml").read_text()
    total = sum(p.stat().st_size for p in [*f5.iterdir(), *vocos.iterdir()])
    assert total < 5_000_000, f"tiny: {total} bytes"


@pytest.fixture(scope="module")
def synthesized(f5_python: Path, probe_env: dict[str, str], references: dict[str, Path]) -> dict[str, dict]:
    """Every synthesis case in one process of the env (the model loads once)."""
    half = REFERENCE_TEXT[: len(REFERENCE_TEXT) // 2] + "。"
    cases = [
        case("espeak", references["espeak"]),
        case("again", references["espeak"], text="明天下午可能會有午後雷陣雨，出門記得帶傘。"),
        case("half_transcript", references["espeak"], transcript=half),
        case("long", references["long"], transcript=REFERENCE_TEXT * 4),
        case("sr8000", references["sr8000"]),
        case("sr48000", references["sr48000"]),
        case("no_transcript", references["espeak"], transcript="  "),
    ]
    return {r["name"]: r for r in run_f5_probe(f5_python, "synth", cases, env=probe_env)}


def test_synthesizes_float_audio_at_24khz(synthesized: dict[str, dict]) -> None:
    first, again = synthesized["espeak"], synthesized["again"]
    assert "error" not in first, first
    assert first["sample_rate"] == 24_000 and first["dtype"] == "float32" and first["finite"]
    assert 0 < first["peak"] < 100
    # F5 sizes the output from the reference's speaking rate: ~20 characters after a reference
    # of ~36 characters in ~6 s is a few seconds, not a fraction of one nor a minute.
    assert 1.0 < first["duration_s"] < 10.0, first
    print(f"\nF5 tiny on CPU: first sentence {first['seconds']:.2f}s (loading included), "
          f"next {again['seconds']:.2f}s for {again['duration_s']:.2f}s of audio")


def test_the_reference_transcript_reaches_f5(synthesized: dict[str, dict]) -> None:
    # F5's duration is ref_frames / len(ref_text) * len(gen_text): the same audio described by
    # a transcript half as long speaks the same sentence about twice as long. It can only
    # move like that if F5 read our transcript (an empty one would have fetched Whisper).
    full, half = synthesized["espeak"], synthesized["half_transcript"]
    full_bytes = len((REFERENCE_TEXT).encode())
    half_bytes = len((REFERENCE_TEXT[: len(REFERENCE_TEXT) // 2] + "。").encode())
    ratio = half["duration_s"] / full["duration_s"]
    assert ratio == pytest.approx(full_bytes / half_bytes, rel=0.08), (full, half)


def test_a_reference_over_12_s_is_clipped(synthesized: dict[str, dict], references: dict[str, Path]) -> None:
    long = synthesized["long"]
    assert sf.info(references["long"]).duration > 20
    assert "error" not in long and long["reference"]["duration_s"] <= 12.0 + 1e-3
    assert long["sample_rate"] == 24_000 and long["finite"]


@pytest.mark.parametrize("rate", [8_000, 48_000])
def test_other_reference_rates_are_resampled_to_f5s(synthesized: dict[str, dict], rate: int) -> None:
    result = synthesized[f"sr{rate}"]
    assert "error" not in result, result
    assert result["reference"]["sample_rate"] == 24_000 and result["sample_rate"] == 24_000


def test_a_voice_without_transcript_is_refused_with_the_fix(synthesized: dict[str, dict]) -> None:
    error = synthesized["no_transcript"]["error"]
    assert error["engine"] == "f5" and "transcript" in error["reason"] and error["fix"] == NEEDS_TRANSCRIPT_FIX


def test_broken_or_missing_model_files_name_the_fix(
    f5_python: Path, probe_env: dict[str, str], f5_models: Path, references: dict[str, Path],
    tmp_path: Path,
) -> None:
    def copy(name: str) -> Path:
        shutil.copytree(f5_models / "tiny", tmp_path / name / "tiny")
        return tmp_path / name

    truncated = copy("truncated")
    ckpt = truncated / "tiny" / F5_FOLDER / "model.safetensors"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    garbage = copy("garbage")
    (garbage / "tiny" / F5_FOLDER / "model.safetensors").write_bytes(b"not a checkpoint" * 64)
    other_arch = copy("other_arch")
    config = other_arch / "tiny" / F5_FOLDER / "model.yaml"
    config.write_text(config.read_text().replace("dim: 64", "dim: 96"))
    no_ckpt = copy("no_ckpt")
    (no_ckpt / "tiny" / F5_FOLDER / "model.safetensors").unlink()
    no_vocoder = copy("no_vocoder")
    shutil.rmtree(no_vocoder / "tiny" / VOCOS_FOLDER)
    cases = [case(name, references["espeak"], models_dir=folder) for name, folder in {
        "truncated": truncated, "garbage": garbage, "other_arch": other_arch,
        "no_ckpt": no_ckpt, "no_vocoder": no_vocoder}.items()]
    results = {r["name"]: r for r in run_f5_probe(f5_python, "synth", cases, env=probe_env)}
    for name in ("truncated", "garbage", "other_arch"):
        error = results[name]["error"]
        assert "does not load" in error["reason"] and "model.safetensors" in error["reason"], error
        assert "avatar models tiny" in error["fix"], error
    assert "checkpoint not found" in results["no_ckpt"]["error"]["reason"]
    assert "vocos-mel-24khz" in results["no_vocoder"]["error"]["reason"]
    for name in ("no_ckpt", "no_vocoder"):
        assert "avatar models tiny" in results[name]["error"]["fix"] and "avatar engines install f5" in \
            results[name]["error"]["fix"]
    # A failed load gives its VRAM booking back: nothing is left booked for f5-tts.
    budget = model_host(Settings(redis_url=probe_env["AVATAR_REDIS_URL"])).budget
    assert "f5-tts" not in budget.snapshot()["models"]
