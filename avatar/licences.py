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
        "unconfirmed (code Apache-2.0)", None, "CosyVoice2-0.5B",
        "https://huggingface.co/FunAudioLLM/CosyVoice2-0.5B (its model card states no licence; the "
        "FunAudioLLM/CosyVoice code is Apache-2.0): confirm before a commercial use"),
    "breezyvoice": WeightLicence(
        "unconfirmed", None, "BreezyVoice-300M",
        "https://huggingface.co/MediaTek-Research/BreezyVoice-300M (not read here: confirm before a commercial use)"),
    "wav2vec2_msp_dim": WeightLicence(
        "CC-BY-NC-SA-4.0", False, "wav2vec2-large-robust-12-ft-emotion-msp-dim",
        "https://huggingface.co/audeering/wav2vec2-large-robust-12-ft-emotion-msp-dim (license: cc-by-nc-sa-4.0)"),
}


def weight_licence(engine: str) -> WeightLicence:
    return ENGINE_WEIGHTS.get(engine) or WeightLicence("unknown", None, "unknown", "no entry in avatar/licences.py")


def non_commercial(engines: dict[str, str]) -> dict[str, WeightLicence]:
    """Of ``{setting: engine}``, those whose weights are not known to allow commercial use."""
    return {key: weight_licence(name) for key, name in engines.items() if name and weight_licence(name).commercial is not True}
