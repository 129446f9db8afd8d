"""Writes the tiny Qwen3-ASR folder (:mod:`models.tiny_qwen_asr` says what and where).

Runs inside the ``qwen-asr`` engine environment (``python -m models.tiny_qwen_asr_writer DEST``):
the configuration, model and processor classes are the ``qwen_asr`` package's own, the
tokenizer is transformers' ``Qwen2TokenizerFast`` over a byte-level BPE trained here, offline.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import torch
from qwen_asr.core.transformers_backend import (
    Qwen3ASRConfig,
    Qwen3ASRForConditionalGeneration,
    Qwen3ASRProcessor,
)
from qwen_asr.inference.utils import SUPPORTED_LANGUAGES
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import GenerationConfig, Qwen2TokenizerFast, WhisperFeatureExtractor

from models.tiny import TINY_CORPUS, _write_into_place
from models.tiny_qwen_asr import MARKER

ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
AUDIO_START, AUDIO_END, AUDIO_PAD = "<|audio_start|>", "<|audio_end|>", "<|audio_pad|>"
SPECIAL_TOKENS = [ENDOFTEXT, IM_START, IM_END, AUDIO_START, AUDIO_END, AUDIO_PAD]  # ids 0..5
ASR_TEXT = "<asr_text>"  # an ordinary added token: the package finds it in the decoded text

# The prompt the package renders (Qwen3ASRModel._build_text_prompt): ChatML, the context as the
# system turn, the audio as a user turn of one audio part, placed between its start and end
# tokens (the processor expands the pad token to one per encoder frame).
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'audio' -%}{{- '<|audio_start|><|audio_pad|><|audio_end|>' -}}"
    "{%- elif part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# The real model writes Simplified characters for Mandarin: some go into the tiny vocabulary
# too, so the random model's output takes the OpenCC path the engine runs.
SIMPLIFIED_LINES = ("今天天气很好，我们去公园散步吧。", "请问捷运的末班车是几点？", "这个软件的语音识别很准确。",
                    "谢谢你的帮忙，欢迎随时问我。")

# Small widths of the real blocks. The audio encoder keeps what the package's processor
# assumes: 128 mel bins and 100-frame chunks (n_window 50), 13 encoder frames per chunk.
AUDIO = {"num_mel_bins": 128, "encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64,
         "d_model": 32, "output_dim": 32, "downsample_hidden_size": 8, "n_window": 50, "n_window_infer": 800,
         "max_source_positions": 1500}
TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
        "num_key_value_heads": 1, "head_dim": 16, "max_position_embeddings": 4096, "rope_theta": 1000000.0,
        # M-RoPE over head_dim / 2 = 8 frequencies (the real sections sum to 64 of 128 dims).
        "rope_scaling": {"rope_type": "default", "mrope_section": [4, 2, 2], "interleaved": True},
        "tie_word_embeddings": False}


def tiny_tokenizer() -> Qwen2TokenizerFast:
    """Qwen2's byte-level BPE, trained on the tiny corpus and the model's own output words."""
    bpe = Tokenizer(models.BPE())
    # The GPT-2 byte-level split: close to Qwen2's own, which the loaded tokenizer applies.
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    answers = [f"language {name}" for name in [*SUPPORTED_LANGUAGES, "None"]]
    corpus = TINY_CORPUS.splitlines() + list(SIMPLIFIED_LINES) * 3 + answers * 4
    bpe.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=1200, special_tokens=SPECIAL_TOKENS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False))
    spec = json.loads(bpe.to_str())["model"]
    with tempfile.TemporaryDirectory() as tmp:
        vocab, merges = Path(tmp) / "vocab.json", Path(tmp) / "merges.txt"
        vocab.write_text(json.dumps(spec["vocab"], ensure_ascii=False), encoding="utf-8")
        lines = [m if isinstance(m, str) else " ".join(m) for m in spec["merges"]]
        merges.write_text("#version: 0.2\n" + "\n".join(lines) + "\n", encoding="utf-8")
        tokenizer = Qwen2TokenizerFast(
            vocab_file=str(vocab), merges_file=str(merges), eos_token=IM_END, pad_token=ENDOFTEXT,
            unk_token=None, bos_token=None, model_max_length=4096, errors="replace",
            additional_special_tokens=SPECIAL_TOKENS[1:],
            extra_special_tokens={"audio_token": AUDIO_PAD, "audio_bos_token": AUDIO_START,
                                  "audio_eos_token": AUDIO_END},
        )
    tokenizer.add_tokens([ASR_TEXT])
    return tokenizer


def write_tiny_qwen_asr(dest: Path, *, seed: int = 0) -> Path:
    tokenizer = tiny_tokenizer()
    ids = {token: tokenizer.convert_tokens_to_ids(token) for token in [*SPECIAL_TOKENS, ASR_TEXT]}
    processor = Qwen3ASRProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=128),
                                  tokenizer=tokenizer, chat_template=CHAT_TEMPLATE)
    config = Qwen3ASRConfig(
        thinker_config={
            "audio_config": AUDIO, "text_config": {**TEXT, "vocab_size": len(tokenizer)},
            "audio_token_id": ids[AUDIO_PAD], "audio_start_token_id": ids[AUDIO_START],
            "user_token_id": tokenizer.convert_tokens_to_ids("user") or 0,
            "pad_token_id": ids[ENDOFTEXT],
        },
        support_languages=list(SUPPORTED_LANGUAGES),
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen3ASRForConditionalGeneration(config).eval()
    model.generation_config = GenerationConfig(
        eos_token_id=[ids[IM_END], ids[ENDOFTEXT]], pad_token_id=ids[ENDOFTEXT], do_sample=False,
        max_new_tokens=64)

    def write(tmp: Path) -> Path:
        model.save_pretrained(tmp, safe_serialization=True)
        processor.save_pretrained(tmp)
        total = sum(p.stat().st_size for p in tmp.rglob("*") if p.is_file())
        (tmp / MARKER).write_text(json.dumps({
            "what": "tiny random Qwen3-ASR (avatar models tiny)", "seed": seed,
            "parameters": sum(p.numel() for p in model.parameters()), "bytes": total,
            "special_token_ids": ids}, indent=1) + "\n")
        return tmp

    return _write_into_place(dest, write)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the tiny Qwen3-ASR (run in the qwen-asr engine environment).")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_tiny_qwen_asr(args.dest, seed=args.seed)
    print(f"wrote {args.dest}")


if __name__ == "__main__":
    main()
