"""Cheap checks of model folders on disk, shared by the engines and by :mod:`models`.

File-existence checks only, never a load: engines call them from their ``availability()``
checks, so this module imports nothing heavy (no torch, transformers or huggingface_hub).
Getting the weights onto disk is :mod:`models.download`, :mod:`models.pull` and
:mod:`models.tiny`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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


# --- real-size random models (`avatar models random`) ---------------------------------------
RANDOM_WEIGHTS_FILE = "random-weights.json"


@dataclass(frozen=True)
class RandomWeights:
    """What a real-size random model's folder declares (``avatar models random`` writes it; a
    real model never has it). Random weights cost what the real ones cost once the length of
    what the model generates is fixed, but the text they decode is noise, and noise would make
    everything downstream (the chunker's cuts, the TTS engine's input, the next prompt) unlike
    a real turn. So an engine that finds this file decodes exactly as many tokens as a real
    model would, and emits ``text`` in their place, one piece per token it decoded. A TTS
    engine has no text to emit: it speaks exactly ``tokens_per_char`` speech tokens per
    character of its input, as a real model would, never stopping early."""

    text: str
    reply_tokens: int | None = None  # LLM: the reply's length in tokens
    tokens_per_s: float | None = None  # ASR: transcript tokens per second of speech
    tokens_per_char: float | None = None  # TTS: speech tokens per character of the text spoken

    def pieces(self, count: int) -> list[str]:
        """``text`` cut into ``count`` consecutive pieces (repeated if it is too short)."""
        text = self.text
        while len(text) < count:
            text += self.text
        return [text[round(i * len(text) / count): round((i + 1) * len(text) / count)] for i in range(count)]


def random_weights(model_dir: Path) -> RandomWeights | None:
    """The folder's declaration, or None for a real model (cheap: one small file read)."""
    path = Path(model_dir) / RANDOM_WEIGHTS_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return RandomWeights(text=str(data["text"]), reply_tokens=data.get("reply_tokens"),
                         tokens_per_s=data.get("tokens_per_s"), tokens_per_char=data.get("tokens_per_char"))


def write_random_weights(model_dir: Path, declaration: RandomWeights) -> Path:
    path = Path(model_dir) / RANDOM_WEIGHTS_FILE
    data = {"text": declaration.text, "reply_tokens": declaration.reply_tokens,
            "tokens_per_s": declaration.tokens_per_s, "tokens_per_char": declaration.tokens_per_char,
            "note": "random weights, real size: speed only; the text is a stand-in (avatar models random)"}
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return path
