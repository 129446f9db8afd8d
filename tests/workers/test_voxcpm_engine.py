"""The ``voxcpm`` engine running VoxCPM's own code, in the ``voxcpm`` engine environment, on the
tiny random VoxCPM folder that :mod:`models.tiny_voxcpm` writes.

Nothing is mocked: the env is built when missing (``engine_env``), the tiny model is generated
by the package's own classes there, and each case runs :class:`VoxCPMTTS` in that env's python
(:mod:`tests.engine_probes.voxcpm_probe`: availability, loading through the VRAM budget in
Redis, the package's ``VoxCPM`` and its ``generate``), Hugging Face offline. The tiny model
never predicts "stop" (its stop head is zero), so a sentence's length is the package's cap
(6 latent patches per text token + 10) or ``AVATAR_VOXCPM_MAX_LEN``: the tests cap it to keep
the run short. The model is random: the audio is noise of the right rate and length.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import redis
import soundfile as sf

from avatar.audio_io import resample
from avatar.settings import Settings
from models.download import ModelSetupError
from models.tiny_voxcpm import FOLDER, FOLDER_V2, is_complete, make_tiny_voxcpm
from tests.conftest import REDIS_BASE, REDIS_DB
from tests.engine_probes.voxcpm_run import run_voxcpm_probe
from tests.voices import REFERENCE_TEXT, espeak_reference
from workers.engines.registry import get_tts_engine_named
from workers.engines.tts.gpu_host import model_host
from workers.engines.tts.neural import NEEDS_TRANSCRIPT_FIX
from workers.engines.tts.voxcpm import model_name_for

SENTENCE = "今天台北天氣晴朗，我們一起去公園散步吧。"
CAPPED = 25  # latent patches: 2 s at VoxCPM-0.5B's 12.5 patches per second
TINY = f"tiny/{FOLDER}"
TINY_V2 = f"tiny/{FOLDER_V2}"
CAPPED_V2 = 20  # VoxCPM2's patches are 160 ms (4 latents of 40 ms)


def slow_env_test(test: Any) -> Any:
    """Slow, and past the suite's 300 s timeout: a first run builds the env in its fixture."""
    return pytest.mark.timeout(1800)(pytest.mark.slow(test))


def test_without_the_package_it_is_unavailable_with_the_install_command(tmp_path: Path) -> None:
    # The main environment has no voxcpm: the engine says so and how to get it, loads nothing.
    engine = get_tts_engine_named("voxcpm", Settings(models_dir=tmp_path, tts_hq_engine="voxcpm"))
    found = engine.availability()
    assert not found.ok and "voxcpm is not installed" in found.reason
    assert "avatar engines install voxcpm" in found.fix


def test_each_lane_books_its_own_copy() -> None:
    fast_only = Settings(tts_fast_engine="voxcpm", tts_hq_engine="lite_hq")
    hq_only = Settings(tts_fast_engine="lite", tts_hq_engine="voxcpm")
    assert model_name_for(fast_only, "") == "voxcpm-fast" and model_name_for(hq_only, "") == "voxcpm-hq"
    both = Settings(tts_fast_engine="voxcpm", tts_hq_engine="voxcpm")
    assert model_name_for(both, "tts_fast") == model_name_for(both, "batch_fast") == "voxcpm-fast"
    assert model_name_for(both, "tts_hq") == model_name_for(both, "batch") == "voxcpm-hq"


def test_without_its_env_the_tiny_model_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AVATAR_ENGINE_ENVS_DIR", str(tmp_path / "no-envs"))  # no env built there
    with pytest.raises(ModelSetupError, match="avatar engines install voxcpm"):
        make_tiny_voxcpm(tmp_path / "models" / TINY)
    assert not (tmp_path / "models" / TINY).exists(), "nothing half-written"


@pytest.fixture(scope="module")
def voxcpm_python(engine_env: Any) -> Path:
    return engine_env("voxcpm")


@pytest.fixture(scope="module")
def voxcpm_models(voxcpm_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("voxcpm-models")
    make_tiny_voxcpm(models_dir / TINY, python=voxcpm_python)
    make_tiny_voxcpm(models_dir / TINY_V2, python=voxcpm_python, architecture="voxcpm2")
    assert is_complete(models_dir / TINY) and is_complete(models_dir / TINY_V2)
    return models_dir


@pytest.fixture(scope="module")
def probe_env(voxcpm_models: Path) -> dict[str, str]:
    url = f"{REDIS_BASE}/{REDIS_DB['voxcpm']}"
    redis.Redis.from_url(url).flushdb()
    return {"AVATAR_PROFILE": "tiny-gpu", "AVATAR_MODELS_DIR": str(voxcpm_models), "AVATAR_REDIS_URL": url,
            "AVATAR_TTS_HQ_ENGINE": "voxcpm"}


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("voxcpm-refs")
    ref = espeak_reference(folder / "ref.wav", variant="f2", pitch=60)  # 22.05 kHz, ~6 s
    samples, sr = sf.read(ref, dtype="float32")
    sf.write(folder / "ref-48000.wav", resample(samples, sr, 48_000), 48_000)
    return {"espeak": ref, "sr48000": folder / "ref-48000.wav"}


def case(name: str, ref: Path, transcript: str = REFERENCE_TEXT, text: str = SENTENCE, **settings: Any) -> dict:
    return {"name": name, "text": text, "voice": {"audio_path": str(ref), "transcript": transcript},
            "settings": {k: str(v) for k, v in settings.items()}}


@slow_env_test
def test_tiny_model_files(voxcpm_models: Path) -> None:
    for folder, architecture in ((voxcpm_models / TINY, "voxcpm"), (voxcpm_models / TINY_V2, "voxcpm2")):
        assert f'"architecture": "{architecture}"' in (folder / "config.json").read_text()
        total = sum(p.stat().st_size for p in folder.iterdir())
        assert total < 5_000_000, f"tiny: {total} bytes"


@slow_env_test
def test_the_adapter_speaks_the_packages_signatures(voxcpm_python: Path, probe_env: dict[str, str]) -> None:
    found = run_voxcpm_probe(voxcpm_python, "contract", env=probe_env)
    assert set(found["load_kwargs"]) <= set(found["init_params"]), found
    assert set(found["infer_kwargs"]) <= set(found["generate_params"]), found


@slow_env_test
def test_without_weights_it_is_unavailable_with_the_fix(
    voxcpm_python: Path, probe_env: dict[str, str], tmp_path: Path
) -> None:
    found = run_voxcpm_probe(voxcpm_python, "availability", env={**probe_env, "AVATAR_PROFILE": "gpu",
                                                                   "AVATAR_MODELS_DIR": str(tmp_path)})
    assert found["available"] is False and found["model_path"] == str(tmp_path / "VoxCPM-0.5B")
    assert "checkpoint not found" in found["reason"] and "openbmb/VoxCPM-0.5B" in found["fix"], found
    assert found["model_name"] == "voxcpm-hq"
    tiny = run_voxcpm_probe(voxcpm_python, "availability", env=probe_env)
    assert tiny["available"] is True, tiny


@pytest.fixture(scope="module")
def synthesized(voxcpm_python: Path, probe_env: dict[str, str], references: dict[str, Path]) -> dict[str, dict]:
    """Every synthesis case in one process of the env (the tiny model loads in under a second)."""
    cases = [
        case("espeak", references["espeak"], voxcpm_max_len=CAPPED),
        # The package's own cap (6 per token + 10); without its retries of a too-long utterance
        # (a never-stopping model would run three times).
        case("short", references["espeak"], text="好。", voxcpm_retry_badcase=False),
        case("sr48000", references["sr48000"], text="你好。", voxcpm_max_len=CAPPED),
        case("no_transcript", references["espeak"], transcript="  "),
        case("voxcpm2", references["espeak"], text="你好。",
             voxcpm_model_dir=probe_env["AVATAR_MODELS_DIR"] + "/" + TINY_V2, voxcpm_max_len=CAPPED_V2),
    ]
    return {r["name"]: r for r in run_voxcpm_probe(voxcpm_python, "synth", cases, env=probe_env)}


@slow_env_test
def test_a_cloned_sentence_is_float_audio_at_16khz(synthesized: dict[str, dict]) -> None:
    first = synthesized["espeak"]
    assert "error" not in first, first
    assert first["sample_rate"] == 16_000 and first["dtype"] == "float32" and first["finite"]
    assert 0 < first["peak"] < 100
    # Each generated latent patch decodes to patch_size x 640 samples (80 ms at 16 kHz).
    assert first["patch_samples"] == 1280
    # One generate call per sentence (the reply worker sends one; this text has two clauses).
    calls = len(first["prompts"])
    assert calls == 2 and first["samples"] == calls * CAPPED * first["patch_samples"], first
    assert first["booked"] == ["voxcpm-hq"], "loaded through the VRAM budget under the HQ lane's name"
    print(f"\nVoxCPM tiny on CPU: {first['seconds']:.2f}s (loading included) for {first['duration_s']:.2f}s of audio")


@slow_env_test
def test_the_reference_and_its_transcript_reach_voxcpm(synthesized: dict[str, dict]) -> None:
    first = synthesized["espeak"]
    for prompt in first["prompts"]:
        assert prompt["prompt_text"] == REFERENCE_TEXT
        assert prompt["prompt_wav_path"].endswith(".wav")
        assert "reference_wav_path" not in prompt, "VoxCPM-0.5B has no isolated reference prompt"
    assert first["reference"]["sample_rate"] == 16_000


@slow_env_test
def test_without_a_cap_the_length_follows_the_text(synthesized: dict[str, dict]) -> None:
    short = synthesized["short"]
    assert "error" not in short, short
    # The package stops at 6 patches per target token + 10 when the model never says stop.
    assert short["samples"] == (6 * short["target_tokens"] + 10) * short["patch_samples"], short
    assert 1.0 < short["duration_s"] < 5.0


@slow_env_test
def test_a_48khz_reference_is_resampled_to_16khz(synthesized: dict[str, dict]) -> None:
    result = synthesized["sr48000"]
    assert "error" not in result, result
    assert result["reference"]["sample_rate"] == 16_000 and result["sample_rate"] == 16_000


@slow_env_test
def test_a_voice_without_transcript_is_refused_with_the_fix(synthesized: dict[str, dict]) -> None:
    error = synthesized["no_transcript"]["error"]
    assert error["engine"] == "voxcpm" and "transcript" in error["reason"] and error["fix"] == NEEDS_TRANSCRIPT_FIX


@slow_env_test
def test_broken_or_missing_model_files_name_the_fix(
    voxcpm_python: Path, probe_env: dict[str, str], voxcpm_models: Path, references: dict[str, Path],
    tmp_path: Path,
) -> None:
    def copy(name: str) -> Path:
        shutil.copytree(voxcpm_models / "tiny", tmp_path / name / "tiny")
        return tmp_path / name

    truncated = copy("truncated")
    weights = truncated / TINY / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    no_vae = copy("no_vae")
    (no_vae / TINY / "audiovae.safetensors").unlink()
    cases = [case(name, references["espeak"], models_dir=folder, voxcpm_max_len=4)
             for name, folder in {"truncated": truncated, "no_vae": no_vae}.items()]
    results = {r["name"]: r for r in run_voxcpm_probe(voxcpm_python, "synth", cases, env=probe_env)}
    error = results["truncated"]["error"]
    assert "does not load" in error["reason"] and str(truncated / TINY) in error["reason"], error
    assert "lacks audiovae.safetensors or audiovae.pth" in results["no_vae"]["error"]["reason"]
    for result in results.values():
        assert "avatar models tiny" in result["error"]["fix"] and "avatar engines install voxcpm" in result["error"]["fix"]
    # A failed load gives its VRAM booking back: nothing is left booked for VoxCPM.
    budget = model_host(Settings(redis_url=probe_env["AVATAR_REDIS_URL"])).budget
    assert not {"voxcpm-fast", "voxcpm-hq"} & set(budget.snapshot()["models"])


@slow_env_test
def test_a_voxcpm2_folder_gets_the_reference_as_its_isolated_prompt_too(synthesized: dict[str, dict]) -> None:
    result = synthesized["voxcpm2"]
    assert "error" not in result, result
    assert result["sample_rate"] == 48_000 and result["finite"], "VoxCPM2 decodes at 48 kHz"
    [prompt] = result["prompts"]
    assert prompt["prompt_text"] == REFERENCE_TEXT
    assert prompt["reference_wav_path"] == prompt["prompt_wav_path"], "the same reference, both ways"
    assert result["duration_s"] == pytest.approx(CAPPED_V2 * 0.16, rel=0.05), result
