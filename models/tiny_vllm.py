"""The tiny Qwen2 that vLLM serves under the ``tiny-gpu`` profile (``tiny/vllm-qwen2``).

Same family as the in-process tiny LLM (:mod:`models.tiny`, whose tokenizer and ChatML
template it shares), shaped for vLLM's CPU kernels: bf16 weights and a head size of 64
(hidden 256 over 4 heads; the in-process one's head size of 16 has no vLLM attention kernel).
Random weights, real ``Qwen2ForCausalLM`` files, written by ``save_pretrained``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.model_files import INSTALL_HINT, missing_llm_files
from models.download import ModelSetupError

HIDDEN_SIZE = 256
NUM_HEADS = 4  # head size 64: one vLLM's CPU attention supports
MAX_POSITIONS = 4096


def is_complete(dest: Path) -> bool:
    return not missing_llm_files(Path(dest)) and (Path(dest) / "generation_config.json").is_file()


def qwen2_writer(tokenizer: Any, special_ids: dict[str, int], eos: str, pad: str, *, seed: int = 0,
                 ) -> Callable[[Path], Path]:
    """``write(folder)``: save a random bf16 Qwen2 for ``tokenizer`` (and the tokenizer) there."""
    try:
        import torch
        from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelSetupError(f"tiny vLLM model needs torch and transformers ({exc}); {INSTALL_HINT}") from exc

    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN_SIZE,
        intermediate_size=2 * HIDDEN_SIZE,
        num_hidden_layers=2,
        num_attention_heads=NUM_HEADS,
        num_key_value_heads=2,
        max_position_embeddings=MAX_POSITIONS,
        max_window_layers=2,
        tie_word_embeddings=True,
        bos_token_id=special_ids[pad],
        eos_token_id=special_ids[eos],
        pad_token_id=special_ids[pad],
        dtype="bfloat16",
    )
    with torch.random.fork_rng(devices=[]):  # seed the weights without touching the caller's RNG
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config).to(torch.bfloat16).eval()
    model.generation_config = GenerationConfig(
        bos_token_id=special_ids[pad],
        eos_token_id=[special_ids[eos], special_ids[pad]],
        pad_token_id=special_ids[pad],
    )

    def write(folder: Path) -> Path:
        model.save_pretrained(folder)
        tokenizer.model_max_length = MAX_POSITIONS
        tokenizer.save_pretrained(folder)
        return folder

    return write
