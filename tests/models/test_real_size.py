"""``avatar models random``'s models have the released models' size: their parameter counts,
built on PyTorch's meta device (no memory, no weights), against the published ones."""

from __future__ import annotations

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperForConditionalGeneration

from models.real_size import (
    QWEN25_05B, QWEN25_7B, QWEN25_7B_VOCAB, QWEN25_15B, QWEN25_VOCAB, RANDOM_MODELS, WHISPER_LARGE_V3_TURBO, WHISPER_SMALL, make_random_models,
)
from models.tiny import _build_tiny_tokenizer


def _params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(("dims", "vocab", "published"), [
    (QWEN25_05B, QWEN25_VOCAB, 494_032_768),  # Qwen2.5 report: 0.49 B
    (QWEN25_15B, QWEN25_VOCAB, 1_543_714_304),  # 1.54 B
    (QWEN25_7B, QWEN25_7B_VOCAB, 7_615_616_512),  # the 7B-Instruct model card: 7.61 B (6.53 B non-embedding)
])
def test_qwen_shapes_have_the_released_parameter_counts(dims: dict, vocab: int, published: int) -> None:
    with torch.device("meta"):
        model = Qwen2ForCausalLM(Qwen2Config(vocab_size=vocab, **dims))
    assert _params(model) == pytest.approx(published, rel=0.001)


@pytest.mark.parametrize(("dims", "vocab", "published"), [
    (WHISPER_SMALL, 51_865, 241_734_912),  # "244 M" in Whisper's README
    (WHISPER_LARGE_V3_TURBO, 51_866, 808_878_080),  # "809 M"
])
def test_whisper_shapes_have_the_released_parameter_counts(dims: dict, vocab: int, published: int) -> None:
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(WhisperConfig(vocab_size=vocab, max_source_positions=1500,
                                                              max_target_positions=448, **dims))
    assert _params(model) == pytest.approx(published, rel=0.01)


def test_the_padded_tokenizer_has_the_real_vocabulary_size_and_streams_fillers_as_words() -> None:
    tokenizer = _build_tiny_tokenizer(vocab_size=2000, pad_to=QWEN25_VOCAB)
    assert len(tokenizer) == QWEN25_VOCAB
    assert tokenizer.decode([QWEN25_VOCAB - 1]).startswith(" x")  # a space first: a streamer releases it


def test_an_unknown_model_is_refused(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="unknown random model"):
        make_random_models(tmp_path, ["gpt-5"])
    assert set(RANDOM_MODELS) >= {"qwen2.5-0.5b-instruct", "faster-whisper-large-v3-turbo", "f5-tts-v1-base"}
