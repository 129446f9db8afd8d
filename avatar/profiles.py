"""The deployment profiles (``AVATAR_PROFILE``): the settings each one defaults to, and where
each profile's models live under ``models_dir``. Plain data read by :mod:`avatar.settings`;
an explicit setting always wins over its profile's default."""

from __future__ import annotations

from typing import Any

LOCAL_LLM_FOLDER = "qwen2.5-0.5b-instruct"  # where `avatar models download llm` puts it
LOCAL_ASR_FOLDER = "faster-whisper-small"  # `avatar models download asr`
LOCAL_ASR_FOLDER_GPU = "faster-whisper-large-v3-turbo"
# models.lock.json's local_dir of each CosyVoice checkpoint (profiles gpu and gpu-cosyvoice2)
COSYVOICE3_FOLDER = "Fun-CosyVoice3-0.5B"
COSYVOICE2_FOLDER = "CosyVoice2-0.5B"
LOCAL_QWEN_ASR_FOLDER = "Qwen3-ASR-1.7B"  # `avatar models pull --profile qwen-asr`

PROFILE_DEFAULTS: dict[str, dict[str, Any]] = {
    "cpu": {
        "llm_engine": "transformers",
        # The CPU cloned voice; ``lite_hq`` is the same engine at its best settings
        # (CosyVoice needs a GPU).
        "tts_fast_engine": "lite",
        "tts_hq_engine": "lite_hq",
    },
    "gpu": {
        "llm_engine": "openai",
        "llm_model": "Qwen/Qwen2.5-7B-Instruct-AWQ",
        "asr_device": "cuda",
        # One Whisper copy on the GPU (the budget counts one per model); a GPU decode is short
        # enough that a final queued behind a running partial waits little.
        "asr_concurrency": 1,
        "tts_fast_engine": "f5",
        "tts_hq_engine": "cosyvoice",
    },
    "tiny": {
        "llm_engine": "transformers",
        "llm_max_tokens": 48,
        "asr_min_confidence": 0.0,  # a random model has no confidence worth the name
        "asr_temperature_fallback": False,  # its decodes always "fail": stay greedy, deterministic
        "tts_fast_engine": "espeak",
        "tts_hq_engine": "espeak",
    },
    # The gpu profile's engines on CPU with tiny random models (model paths: _default_model_paths).
    "tiny-gpu": {
        "llm_engine": "openai",
        "llm_max_tokens": 48,
        "llm_context_tokens": 1024,  # vLLM's --max-model-len; the tiny Qwen2 takes up to 4096
        "vllm_serve": True,
        "asr_device": "cpu",
        "asr_min_confidence": 0.0,
        "asr_temperature_fallback": False,
        "tts_device": "cpu",
        "tts_fast_engine": "f5",
        "tts_hq_engine": "cosyvoice",
    },
}

# AVATAR_LICENCE=commercial: the engines a profile then defaults to instead of those whose
# weights are not licensed for commercial use (F5-TTS's; CosyVoice2's, unconfirmed).
COMMERCIAL_DEFAULTS: dict[str, dict[str, Any]] = {
    "gpu": {"tts_fast_engine": "voxcpm", "tts_hq_engine": "voxcpm"},
}

# Under models_dir: where `avatar models tiny` puts each tiny model the tiny-gpu profile uses.
TINY_GPU_FOLDERS = {
    "llm_model": "tiny/vllm-qwen2", "asr_model": "tiny/asr",
    "f5_ckpt_file": "tiny/f5-tts/model.safetensors", "f5_vocab_file": "tiny/f5-tts/vocab.txt",
    "f5_vocoder_dir": "tiny/vocos-mel-24khz", "cosyvoice_model_dir": "tiny/cosyvoice2",
    "voxcpm_model_dir": "tiny/voxcpm",  # used when a lane is switched to voxcpm
}
