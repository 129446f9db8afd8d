"""The GPU cloning engines (F5-TTS, CosyVoice, BreezyVoice).

F5-TTS runs in its own engine environment (``avatar engines install f5``: it needs PyPI's
torch/torchaudio 2.11 pair, not the main environment's CPU torch): its contract test runs there
(the ``engine_env`` fixture builds it when missing), and tests/workers/test_f5_engine.py
synthesises with it. CosyVoice 2 likewise runs in engine environment ``cosyvoice`` (PyPI's
cosyvoice-minicpmo): its contract test runs there, and tests/workers/test_cosyvoice_engine.py
synthesises with it. BreezyVoice is not on PyPI (its image builds it from
MediaTek's repository): here it reports itself unavailable with that fix. Everything around
the model call is tested for real: availability and install hints, argument mapping, the
transcript requirement, sentence handling, reference resampling, and loading a (tiny,
randomly initialised) model through the GPU's shared VRAM budget in Redis.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import redis
import soundfile as sf

from avatar.settings import Settings
from tests.conftest import REDIS_BASE, REDIS_DB
from tests.engine_probes.cosyvoice_run import run_cosyvoice_probe
from tests.engine_probes.f5_run import run_f5_probe
from tests.voices import espeak_reference
from workers.engines.base import EngineUnavailable
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.breezyvoice import BreezyVoiceTTS
from workers.engines.tts.cosyvoice import COSYVOICE3_PREFIX, CosyVoiceTTS
from workers.engines.tts.f5 import F5TTSEngine
from workers.engines.tts.neural import NeuralCloneTTS, prepared_reference, split_sentences



@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> VoiceReference:
    path = espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav", variant="f2", pitch=60)
    return VoiceReference(profile_id="p1", audio_path=path, transcript="這是一段用來測試聲音複製的參考錄音")


@pytest.mark.slow
def test_f5_contract_with_the_real_package(engine_env: Callable[[str], Path]) -> None:
    python = engine_env("f5")
    found = run_f5_probe(python, "contract")
    assert Path(found["f5_tts_file"]).is_relative_to(python.parents[1]), "the env's own f5_tts"
    assert found["load_kwargs"] and set(found["load_kwargs"]) <= set(found["init_params"])
    assert {"ref_text", "gen_text"} <= set(found["infer_kwargs"]) <= set(found["infer_params"])


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a first run builds the env (minutes) in engine_env
def test_cosyvoice_contract_with_the_real_package(engine_env: Callable[[str], Path]) -> None:
    python = engine_env("cosyvoice")
    found = run_cosyvoice_probe(python, "contract")
    assert Path(found["cosyvoice_file"]).is_relative_to(python.parents[1]), "the env's own cosyvoice"
    assert "CosyVoice2" in found["classes"]
    for method in ("inference_zero_shot", "inference_instruct2"):
        params, ours = set(found["params"][method]), set(found["adapter_kwargs"][method])
        assert {"prompt_wav", "prompt_speech_16k"} & params, params  # one of the two call shapes
        assert ours <= params, (method, ours - params)
    assert "prompt_text" in found["adapter_kwargs"]["inference_zero_shot"]
    assert "instruct_text" in found["adapter_kwargs"]["inference_instruct2"]


@pytest.mark.parametrize("engine_type", [F5TTSEngine, CosyVoiceTTS, BreezyVoiceTTS])
def test_unavailable_with_an_install_hint(engine_type: type[NeuralCloneTTS], voice: VoiceReference) -> None:
    if importlib.util.find_spec(engine_type.package) is not None:
        pytest.skip(f"{engine_type.package} is installed here")
    engine = engine_type(settings=Settings(profile="gpu"))
    availability = engine.availability()
    assert not availability.ok and "not installed" in availability.reason and availability.fix
    with pytest.raises(EngineUnavailable) as raised:
        engine.synthesize("你好", voice=voice)
    assert raised.value.fix == availability.fix


def test_f5_argument_mapping(tmp_path: Path, voice: VoiceReference) -> None:
    engine = F5TTSEngine(settings=Settings(models_dir=tmp_path, f5_nfe_steps=8, tts_device="cuda:0"))
    load = engine.load_kwargs()
    assert load["ckpt_file"] == str(tmp_path / "f5-tts" / "model.safetensors")
    assert load["vocab_file"] == str(tmp_path / "f5-tts" / "vocab.txt")
    assert load["vocoder_local_path"] == str(tmp_path / "vocos-mel-24khz") and load["device"] == "cuda:0"
    kwargs = engine.infer_kwargs("今天天氣很好。", voice, tmp_path / "ref.wav", "sad")
    assert kwargs["ref_text"] == voice.transcript, "the transcript is always passed (no Whisper download)"
    assert kwargs["gen_text"] == "今天天氣很好。" and kwargs["nfe_step"] == 8 and kwargs["speed"] < 1.0


class CosyVoice3:
    """Stands in for upstream's current class of that name (it needs weights): its name and
    its generators' signatures (the ``prompt_wav`` shape) are what the adapter reads."""

    def inference_zero_shot(self, tts_text: str, prompt_text: str, prompt_wav: str, zero_shot_spk_id: str = "",
                            stream: bool = False, speed: float = 1.0, text_frontend: bool = True) -> Any: ...
    def inference_instruct2(self, tts_text: str, instruct_text: str, prompt_wav: str, zero_shot_spk_id: str = "",
                            stream: bool = False, speed: float = 1.0, text_frontend: bool = True) -> Any: ...


def test_cosyvoice_zero_shot_and_instruct_mapping(tmp_path: Path, voice: VoiceReference) -> None:
    engine = CosyVoiceTTS(settings=Settings(models_dir=tmp_path))
    method, kwargs = engine.calls(CosyVoice3(), "你好。", voice, tmp_path / "r.wav", None)
    assert method == "inference_zero_shot" and kwargs["prompt_text"] == COSYVOICE3_PREFIX + voice.transcript
    assert kwargs["prompt_wav"] == str(tmp_path / "r.wav") and kwargs["text_frontend"] is False
    method, kwargs = engine.calls(CosyVoice3(), "你好。", voice, tmp_path / "r.wav", "happy")
    assert method == "inference_instruct2" and kwargs["stream"] is False
    # Upstream's current front end leaves the marker to the caller; CosyVoice 3 wants its system prefix.
    assert kwargs["instruct_text"] == "You are a helpful assistant. 用開心愉快的語氣說<|endofprompt|>"
    assert engine.model_path() == tmp_path / "CosyVoice2-0.5B"
    assert not engine.availability().ok
    # the gpu profile's HQ default is CosyVoice 3 (models.lock.json's gpu profile puts it there)
    assert CosyVoiceTTS(settings=Settings(models_dir=tmp_path, profile="gpu")).model_path() == tmp_path / "Fun-CosyVoice3-0.5B"


def test_sentences_and_reference_resampling(voice: VoiceReference) -> None:
    parts = split_sentences("今天台北天氣晴朗，氣溫大約二十五度。很適合出門走走，也可以去公園散步。")
    assert len(parts) >= 2 and "".join(parts).replace(" ", "") .startswith("今天台北")
    path = prepared_reference(voice, 16_000, 3.0)
    info = sf.info(path)
    assert info.samplerate == 16_000 and info.duration <= 3.0 + 1e-3
    assert prepared_reference(voice, 16_000, 3.0) == path, "cached"


class TinyCloneTTS(NeuralCloneTTS):
    """The shared neural-engine path with a tiny randomly initialised torch model standing in
    for F5/CosyVoice weights (labelled): same loading, budget and sentence handling."""

    name: ClassVar[str] = "tiny_clone"
    package: ClassVar[str] = "torch"
    install_hint: ClassVar[str] = "pip install torch"
    model_name: ClassVar[str] = "f5-tts"  # booked with F5-TTS's registered footprint
    reference_sr: ClassVar[int] = 24_000
    reference_max_s: ClassVar[float] = 12.0
    calls: ClassVar[list[str]] = []

    def model_path(self) -> Path:
        return Path(__file__)

    def load(self) -> Any:
        import torch

        return torch.nn.Linear(16, 240)

    def infer(self, model: Any, sentence: str, voice: VoiceReference, reference: Path, style: str | None):
        import torch

        self.calls.append(sentence)
        with torch.no_grad():
            out = model(torch.randn(len(sentence), 16)).reshape(-1)
        return out, 24_000


def test_models_load_through_the_vram_budget(voice: VoiceReference) -> None:
    url = f"{REDIS_BASE}/{REDIS_DB['cloning_units']}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    engine = TinyCloneTTS(settings=Settings(redis_url=url, gpu_preset="single-4090"))
    with pytest.raises(EngineUnavailable, match="transcript"):
        engine.synthesize("你好。", voice=VoiceReference(profile_id="x", audio_path=voice.audio_path))
    clip = engine.synthesize("今天天氣很好，我們去散步。明天也要一起去公園走走喔。", voice=voice)
    assert clip.sample_rate == 24_000 and len(clip.samples) > 0 and len(engine.calls) >= 2
    from workers.engines.tts.gpu_host import model_host

    snapshot = model_host(engine.settings).budget.snapshot()
    assert snapshot["models"]["f5-tts"]["footprint_mb"] == 1400 and snapshot["models"]["f5-tts"]["in_use"] == 0
    assert snapshot["models"]["f5-tts"]["owner"].endswith(f":{os.getpid()}")
    assert np.isfinite(clip.samples).all()
    # After a CUDA OOM the HQ guard frees what this process holds and nobody uses.
    from workers.engines.tts.gpu_host import evict_idle_models

    assert evict_idle_models(engine.settings) == ["f5-tts"]
    assert "f5-tts" not in model_host(engine.settings).budget.snapshot()["models"]
    client.flushdb()
