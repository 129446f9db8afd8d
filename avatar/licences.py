"""The licence of each engine's weights, and the switch that keeps a deployment commercial.

Code licences are permissive throughout; what can stop a commercial deployment is the
weights an engine loads (F5-TTS's checkpoints are CC-BY-NC-4.0). Each engine's entry names
the licence of the weights its manifest entry or profile loads, with where that was read.
``AVATAR_LICENCE=commercial`` (:class:`avatar.settings.Settings`) refuses any configured
engine whose weights are not known to allow commercial use; ``/api/v1/health`` shows each
stage's entry. Plain data: the API reads it without importing an engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The settings that name an engine (every one of them loads weights, or none).
ENGINE_SETTINGS = ("llm_engine", "asr_engine", "tts_fast_engine", "tts_hq_engine",
                   "tts_oom_fallback_engine", "prosody_emotion_engine")


@dataclass(frozen=True)
class WeightLicence:
    licence: str  # SPDX id where one exists
    commercial: bool | None  # None: not confirmed, treated as not commercial
    weights: str  # which weights (the manifest entry or profile default)
    source: str  # where the licence was read

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


NO_WEIGHTS = "none (no learned weights)"

# Keyed by engine name, as the settings spell it (llm_engine, asr_engine, tts_*_engine,
# prosody_emotion_engine). A new engine adds its row here (tests/avatar/test_licences.py
# fails for an engine without one).
ENGINE_WEIGHTS: dict[str, WeightLicence] = {
    "transformers": WeightLicence(
        "Apache-2.0", True, "Qwen2.5-0.5B/1.5B-Instruct",
        "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct (license: apache-2.0)"),
    "openai": WeightLicence(
        "Apache-2.0", True, "Qwen2.5-7B-Instruct-AWQ served by vLLM",
        "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct-AWQ (license: apache-2.0)"),
    "benchmark": WeightLicence("none", True, NO_WEIGHTS, "deterministic benchmark engine of this project"),
    "faster_whisper": WeightLicence(
        "MIT", True, "Whisper small / large-v3-turbo (CTranslate2); Breeze-ASR-25 is Apache-2.0",
        "https://github.com/openai/whisper/blob/main/LICENSE (code and weights: MIT); "
        "https://huggingface.co/MediaTek-Research/Breeze-ASR-25 (license: apache-2.0)"),
    "qwen_asr": WeightLicence(
        "Apache-2.0", True, "Qwen3-ASR-1.7B / Qwen3-ASR-0.6B",
        "https://huggingface.co/Qwen/Qwen3-ASR-1.7B (license: apache-2.0; the qwen-asr package: Apache-2.0)"),
    "espeak": WeightLicence(
        "GPL-3.0-or-later", True, NO_WEIGHTS,
        "https://github.com/espeak-ng/espeak-ng (GPL-3.0; called as a program, its audio is the user's)"),
    "lite": WeightLicence("none", True, NO_WEIGHTS, "this project's signal-processing voice (workers/engines/tts/lite.py)"),
    "lite_hq": WeightLicence("none", True, NO_WEIGHTS, "this project's signal-processing voice (workers/engines/tts/lite.py)"),
    "f5": WeightLicence(
        "CC-BY-NC-4.0", False, "F5TTS_v1_Base",
        "https://huggingface.co/SWivid/F5-TTS (license: cc-by-nc-4.0; code MIT)"),
    "cosyvoice": WeightLicence(
        "unconfirmed (code Apache-2.0)", None, "Fun-CosyVoice3-0.5B-2512 (gpu profile) or CosyVoice2-0.5B",
        "https://huggingface.co/FunAudioLLM/CosyVoice2-0.5B (its model card states no licence; the "
        "FunAudioLLM/CosyVoice code is Apache-2.0); Fun-CosyVoice3's card not read here: confirm both "
        "before a commercial use"),
    "breezyvoice": WeightLicence(
        "unconfirmed", None, "BreezyVoice-300M",
        "https://huggingface.co/MediaTek-Research/BreezyVoice-300M (not read here: confirm before a commercial use)"),
    "voxcpm": WeightLicence(
        "Apache-2.0", True, "VoxCPM-0.5B (or VoxCPM2 / VoxCPM1.5, same licence)",
        "https://huggingface.co/openbmb/VoxCPM-0.5B (license: apache-2.0); OpenBMB/VoxCPM README: "
        "weights and code Apache-2.0, free for commercial use"),
    "wav2vec2_msp_dim": WeightLicence(
        "CC-BY-NC-SA-4.0", False, "wav2vec2-large-robust-12-ft-emotion-msp-dim",
        "https://huggingface.co/audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim (license: cc-by-nc-sa-4.0)"),
}


def weight_licence(engine: str) -> WeightLicence:
    return ENGINE_WEIGHTS.get(engine) or WeightLicence("unknown", None, "unknown", "no entry in avatar/licences.py")


def configured_engines(settings: Any) -> dict[str, str]:
    """``{setting: engine}`` of the engines a deployment runs (an empty setting is off)."""
    return {key: str(getattr(settings, key)) for key in ENGINE_SETTINGS if getattr(settings, key, "")}


def licence_report(settings: Any) -> dict[str, Any]:
    """What ``/api/v1/health`` shows: the switch and each configured engine's weights."""
    return {
        "mode": settings.licence,
        "engines": {key: {"engine": name, **weight_licence(name).as_dict()}
                    for key, name in configured_engines(settings).items()},
    }


def commercial_refusal(settings: Any) -> str:
    """Why ``AVATAR_LICENCE=commercial`` refuses this configuration; empty when it does not."""
    if settings.licence != "commercial":
        return ""
    refused = non_commercial(configured_engines(settings))
    if not refused:
        return ""
    lines = [f"{key}={configured_engines(settings)[key]} ({entry.weights}: {entry.licence}; {entry.source})"
             for key, entry in refused.items()]
    return ("AVATAR_LICENCE=commercial refuses engines whose weights are not licensed for commercial use: "
            + "; ".join(lines) + ". Choose engines marked commercial in the README's engine table "
            "(the speech tiers: voxcpm on a GPU, lite / lite_hq on a CPU), or set AVATAR_LICENCE=any")


def non_commercial(engines: dict[str, str]) -> dict[str, WeightLicence]:
    """Of ``{setting: engine}``, those whose weights are not known to allow commercial use."""
    return {key: weight_licence(name) for key, name in engines.items() if name and weight_licence(name).commercial is not True}
