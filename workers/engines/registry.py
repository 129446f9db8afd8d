"""Engine choice per stage, from settings; one engine instance per process.

Providers are named by import path so that choosing one never imports another's heavy
dependencies.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from avatar.domain import TTSMode
from avatar.engine_reports import STAGES, configured_engine
from avatar.settings import Settings
from workers.engines.asr.base import ASREngine
from workers.engines.emotion.base import EmotionEngine
from workers.engines.llm.base import LLMEngine
from workers.engines.tts.base import TTSEngine

LLM_PROVIDERS: dict[str, str] = {
    "transformers": "workers.engines.llm.transformers_local:TransformersLLM",
    "openai": "workers.engines.llm.openai_compat:OpenAICompatLLM",
    "benchmark": "workers.engines.llm.benchmark:BenchmarkLLM",
}
TTS_PROVIDERS: dict[str, str] = {
    "espeak": "workers.engines.tts.espeak:EspeakTTS",
    "benchmark": "workers.engines.tts.benchmark:BenchmarkTTS",
    "lite": "workers.engines.tts.lite:LiteCloneTTS",
    "lite_hq": "workers.engines.tts.lite:LiteCloneHQTTS",
    "f5": "workers.engines.tts.f5:F5TTSEngine",
    "cosyvoice": "workers.engines.tts.cosyvoice:CosyVoiceTTS",
    "breezyvoice": "workers.engines.tts.breezyvoice:BreezyVoiceTTS",
    "voxcpm": "workers.engines.tts.voxcpm:VoxCPMTTS",
}

ASR_PROVIDERS: dict[str, str] = {
    "faster_whisper": "workers.engines.asr.faster_whisper:FasterWhisperASR",
    "qwen_asr": "workers.engines.asr.qwen_asr:QwenASR",  # runs in engine env qwen-asr
}

# The prosody lane's optional learned second opinion (AVATAR_PROSODY_EMOTION_ENGINE).
EMOTION_PROVIDERS: dict[str, str] = {
    "wav2vec2_msp_dim": "workers.engines.emotion.wav2vec2_dim:Wav2Vec2Dimensional",
}

_instances: dict[tuple[Any, ...], Any] = {}


def _load(path: str) -> type:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _settings_key(settings: Settings) -> str:
    return settings.model_dump_json()


def get_llm_engine(settings: Settings) -> LLMEngine:
    key = ("llm", os.getpid(), _settings_key(settings))
    if key not in _instances:
        _instances[key] = _load(LLM_PROVIDERS[settings.llm_engine])(settings=settings)
    return _instances[key]


def get_asr_engine(settings: Settings) -> ASREngine:
    name = getattr(settings, "asr_engine", "faster_whisper")
    key = ("asr", os.getpid(), name, _settings_key(settings))
    if key not in _instances:
        _instances[key] = _load(ASR_PROVIDERS[name])(settings=settings)
    return _instances[key]


def tts_engine_name(mode: TTSMode | str, settings: Settings) -> str:
    return settings.tts_hq_engine if TTSMode(mode) is TTSMode.HQ else settings.tts_fast_engine


def get_tts_engine(mode: TTSMode | str, settings: Settings) -> TTSEngine:
    return get_tts_engine_named(tts_engine_name(mode, settings), settings)


def get_tts_engine_named(name: str, settings: Settings) -> TTSEngine:
    key = ("tts", os.getpid(), name, _settings_key(settings))
    if key not in _instances:
        _instances[key] = _load(TTS_PROVIDERS[name])(settings=settings)
    return _instances[key]


def get_emotion_engine(settings: Settings) -> EmotionEngine | None:
    """None when the second opinion is off (the default)."""
    name = settings.prosody_emotion_engine
    if not name:
        return None
    key = ("emotion", os.getpid(), name, _settings_key(settings))
    if key not in _instances:
        _instances[key] = _load(EMOTION_PROVIDERS[name])(settings=settings)
    return _instances[key]


class Engines:
    """The engines of one process, created on first use (a model loads once per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def llm(self) -> LLMEngine:
        return get_llm_engine(self.settings)

    def asr(self) -> ASREngine:
        return get_asr_engine(self.settings)

    def tts(self, mode: TTSMode | str) -> TTSEngine:
        return get_tts_engine(mode, self.settings)

    def emotion(self) -> EmotionEngine | None:
        return get_emotion_engine(self.settings)

    def tts_oom_fallback(self) -> TTSEngine | None:
        """The CPU engine for a fast sentence the GPU has no memory for; None when none is set."""
        name = self.settings.tts_oom_fallback_engine
        return get_tts_engine_named(name, self.settings) if name else None


def engine_availability(stage: str, settings: Settings) -> dict[str, object]:
    """Whether ``stage``'s configured engine can run in this process (never loads a model)."""
    makers: dict[str, Any] = {
        "llm": lambda: get_llm_engine(settings),
        "tts_fast": lambda: get_tts_engine(TTSMode.FAST, settings),
        "tts_hq": lambda: get_tts_engine(TTSMode.HQ, settings),
        "asr": lambda: get_asr_engine(settings),
    }
    try:
        return makers[stage]().availability().as_dict()
    except Exception as exc:  # an engine that cannot even be constructed is unavailable
        return {"available": False, "reason": str(exc), "fix": ""}


def engine_report(settings: Settings) -> dict[str, dict[str, object]]:
    """Availability of every configured engine (what a worker of each lane reports)."""
    return {
        stage: {"engine": configured_engine(stage, settings), **engine_availability(stage, settings)}
        for stage in STAGES
    }
