"""Cheap checks of model folders on disk, shared by the engines and by :mod:`models`.

File-existence checks only, never a load: engines call them from their ``availability()``
checks, so this module imports nothing heavy (no torch, transformers or huggingface_hub).
Getting the weights onto disk is :mod:`models.download`, :mod:`models.pull` and
:mod:`models.tiny`.
"""

from __future__ import annotations

from pathlib import Path

INSTALL_HINT = 'pip install "avatar[local-llm]"'

# What a loadable chat-model directory holds; any one name of a group is enough.
_REQUIRED_FILE_GROUPS: dict[str, tuple[str, ...]] = {
    "config": ("config.json",),
    "weights": ("model.safetensors", "model.safetensors.index.json"),
    "tokenizer": ("tokenizer.json", "tokenizer.model", "vocab.json"),
    "tokenizer config": ("tokenizer_config.json",),
}


def missing_llm_files(model_dir: Path) -> list[str]:
    """What a Hugging Face chat-model directory lacks (empty list: it looks complete).

    A cheap file-existence check, never a load: engines use it for ``availability()``.
    """
    if not model_dir.is_dir():
        return ["directory"]
    return [
        group
        for group, names in _REQUIRED_FILE_GROUPS.items()
        if not any((model_dir / name).is_file() for name in names)
    ]


# --- CTranslate2 Whisper folders (faster-whisper) --------------------------------------------

CT2_WHISPER_FILES = ("model.bin", "config.json", "tokenizer.json", "preprocessor_config.json")


def missing_whisper_files(model_dir: Path) -> list[str]:
    """What a CTranslate2 Whisper folder lacks for an offline load (cheap file check).
    ``tokenizer.json`` matters: without it faster-whisper fetches a tokenizer from the Hub."""
    if not model_dir.is_dir():
        return ["directory"]
    return [name for name in CT2_WHISPER_FILES if not (model_dir / name).is_file()]


# --- Qwen3-ASR folders (the qwen_asr engine) -------------------------------------------------

# What Qwen3ASRModel.from_pretrained reads from a local folder; any one name of a group is enough.
_QWEN_ASR_FILE_GROUPS: dict[str, tuple[str, ...]] = {
    "config.json": ("config.json",),
    "weights": ("model.safetensors", "model.safetensors.index.json"),
    "tokenizer": ("tokenizer.json", "vocab.json"),
    "tokenizer_config.json": ("tokenizer_config.json",),
    "preprocessor_config.json": ("preprocessor_config.json",),
}


def missing_qwen_asr_files(model_dir: Path) -> list[str]:
    """What a Qwen3-ASR folder lacks for an offline load (cheap file check)."""
    if not model_dir.is_dir():
        return ["directory"]
    return [group for group, names in _QWEN_ASR_FILE_GROUPS.items()
            if not any((model_dir / name).is_file() for name in names)]
