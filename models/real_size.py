"""Real-size random models (``avatar models random``): each model a profile names, with its
real architecture and dimensions and random weights, in the format its engine loads.

Speed does not depend on the values of the weights once the length of what a model generates
is fixed, so these measure what the real models cost on a machine that cannot download them
(``bench/engines.py``). Every figure that comes from them is labelled "random weights, real
size". They live under ``models_dir/random`` (``var/`` by default) and are never committed.

Dimensions are the released models' ``config.json`` values (sources beside each).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avatar.model_files import RandomWeights, write_random_weights
from models.tiny import make_random_qwen2, make_random_whisper
from models.tiny_cosyvoice import CHARS_PER_S, SPEECH_TOKENS_PER_S, make_random_cosyvoice2
from models.tiny_f5 import make_random_f5

FOLDER = "random"


@dataclass(frozen=True)
class RandomModel:
    name: str
    engine: str
    about: str
    source: str
    build: Callable[[Path], Path]
    stand_in: RandomWeights  # written into the folder: what its engine emits (RandomWeights)
    # Built only when named: a GPU box's model, too big for a CPU machine's default build.
    gpu_only: bool = False


# https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct/blob/main/config.json (and -1.5B-Instruct)
QWEN25_05B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14,
              "num_key_value_heads": 2, "max_window_layers": 21, "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6,
              "max_position_embeddings": 32768, "tie_word_embeddings": True}
QWEN25_15B = {**QWEN25_05B, "hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
              "num_attention_heads": 12, "max_window_layers": 21}
QWEN25_VOCAB = 151_936
# https://huggingface.co/Qwen/Qwen2.5-7B-Instruct/blob/main/config.json: untied embeddings and a
# larger vocabulary (152,064) than the small models'. bf16 weights: ~15 GB, for vLLM on a GPU box
# (python -m bench.gpu); never built on a CPU machine.
QWEN25_7B = {**QWEN25_05B, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
             "num_attention_heads": 28, "num_key_value_heads": 4, "max_window_layers": 28,
             "tie_word_embeddings": False}
QWEN25_7B_VOCAB = 152_064
# https://huggingface.co/openai/whisper-small and whisper-large-v3-turbo config.json
WHISPER_SMALL = {"num_mel_bins": 80, "d_model": 768, "encoder_layers": 12, "encoder_attention_heads": 12,
                 "encoder_ffn_dim": 3072, "decoder_layers": 12, "decoder_attention_heads": 12, "decoder_ffn_dim": 3072}
WHISPER_LARGE_V3_TURBO = {"num_mel_bins": 128, "d_model": 1280, "encoder_layers": 32, "encoder_attention_heads": 20,
                          "encoder_ffn_dim": 5120, "decoder_layers": 4, "decoder_attention_heads": 20,
                          "decoder_ffn_dim": 5120}
REPLY_TOKENS = 40  # a reply of about 50 characters: Qwen2.5's tokenizer writes ~1.25 Chinese characters a token
ASR_TOKENS_PER_S = 5  # Mandarin at ~4-5 syllables/s, about one Whisper token per character
# What the random models' engines emit in place of their noise (RandomWeights): a reply of
# REPLY_TOKENS tokens' worth (50 characters) and a question, as a real turn would carry.
STAND_IN_REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度，下午可能有短暫陣雨，出門記得帶把傘喔。"
STAND_IN_TRANSCRIPT = "今天台北天氣怎麼樣？我下午想去淡水走走，有什麼建議嗎？"
LLM_STAND_IN = RandomWeights(text=STAND_IN_REPLY, reply_tokens=REPLY_TOKENS)
ASR_STAND_IN = RandomWeights(text=STAND_IN_TRANSCRIPT, tokens_per_s=ASR_TOKENS_PER_S)
# CosyVoice 2 speaks 25 speech tokens a second; at CHARS_PER_S characters a second that is the
# speech a real model makes of a sentence (the random one's own stop token would come anywhere).
TTS_STAND_IN = RandomWeights(text="", tokens_per_char=SPEECH_TOKENS_PER_S / CHARS_PER_S)


def _qwen(dims: dict[str, Any], vocab_size: int = QWEN25_VOCAB) -> Callable[[Path], Path]:
    return lambda dest: make_random_qwen2(dest, dims, vocab_size=vocab_size, dtype="bfloat16",
                                          max_new_tokens=REPLY_TOKENS)


RANDOM_MODELS: dict[str, RandomModel] = {m.name: m for m in (
    RandomModel("qwen2.5-0.5b-instruct", "transformers", "Qwen2.5-0.5B-Instruct shape, bf16 (the cpu profile's LLM)",
                "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct", _qwen(QWEN25_05B), LLM_STAND_IN),
    RandomModel("qwen2.5-1.5b-instruct", "transformers", "Qwen2.5-1.5B-Instruct shape, bf16",
                "https://huggingface.co/Qwen/Qwen2.5-1.5B-Instruct", _qwen(QWEN25_15B), LLM_STAND_IN),
    RandomModel("qwen2.5-7b-instruct", "vllm", "Qwen2.5-7B-Instruct shape, bf16 (~15 GB: for vLLM on a GPU, bench/gpu.py)",
                "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct", _qwen(QWEN25_7B, QWEN25_7B_VOCAB), LLM_STAND_IN,
                gpu_only=True),
    RandomModel("faster-whisper-small", "faster_whisper", "Whisper small (244 M), CTranslate2 int8 (the cpu profile's ASR)",
                "https://huggingface.co/openai/whisper-small",
                lambda dest: make_random_whisper(dest, WHISPER_SMALL, vocab_size=51_865, quantization="int8"), ASR_STAND_IN),
    RandomModel("faster-whisper-large-v3-turbo", "faster_whisper",
                "Whisper large-v3-turbo (809 M: large-v3's 32-layer encoder, 4 decoder layers), CTranslate2 float16",
                "https://huggingface.co/openai/whisper-large-v3-turbo",
                lambda dest: make_random_whisper(dest, WHISPER_LARGE_V3_TURBO, vocab_size=51_866, quantization="float16"),
                ASR_STAND_IN),
    RandomModel("f5-tts-v1-base", "f5", "F5-TTS v1 Base (DiT dim 1024, depth 22: 336 M) and the Vocos mel-24 kHz vocoder",
                "https://huggingface.co/SWivid/F5-TTS (F5TTS_v1_Base.yaml in the f5-tts package)",
                lambda dest: make_random_f5(dest), RandomWeights(text="")),
    RandomModel("cosyvoice2-0.5b", "cosyvoice",
                "CosyVoice2-0.5B: Qwen2.5-0.5B speech-token LM (6561 codes), flow matching (112.5 M), HiFT (20.8 M), "
                "the S3 tokenizer v2 (123.7 M) and CAM++ front ends (ONNX)",
                "https://huggingface.co/FunAudioLLM/CosyVoice2-0.5B (cosyvoice2.yaml in FunAudioLLM/CosyVoice)",
                lambda dest: make_random_cosyvoice2(dest), TTS_STAND_IN),
)}


def random_models_dir(models_dir: Path) -> Path:
    return Path(models_dir) / FOLDER


def make_random_models(models_dir: Path, names: list[str] | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Path]:
    """Build each named model (default: all but the GPU-only ones) under ``models_dir/random``;
    an existing complete one is kept. Progress goes to ``log``, one line per model."""
    chosen = names or [name for name, model in RANDOM_MODELS.items() if not model.gpu_only]
    unknown = sorted(set(chosen) - set(RANDOM_MODELS))
    if unknown:
        raise ValueError(f"unknown random model(s) {unknown}; choose from {sorted(RANDOM_MODELS)}")
    built = {}
    for i, name in enumerate(chosen, 1):
        model = RANDOM_MODELS[name]
        log(f"[{i}/{len(chosen)}] {name}: {model.about} (random weights, real size)")
        built[name] = model.build(random_models_dir(models_dir) / name)
        if model.stand_in != RandomWeights(text=""):  # F5 sizes its speech itself: nothing to declare
            write_random_weights(built[name], model.stand_in)
    return built
