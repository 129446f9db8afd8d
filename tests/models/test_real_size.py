"""``avatar models random``'s models have the released models' size: their parameter counts,
built on PyTorch's meta device (no memory, no weights) where the architecture allows, against
the published ones."""

from __future__ import annotations

import json
import subprocess

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM, WhisperConfig, WhisperForConditionalGeneration

from models.real_size import (
    QWEN25_05B, QWEN25_7B, QWEN25_7B_VOCAB, QWEN25_15B, QWEN25_VOCAB, RANDOM_MODELS, WHISPER_LARGE_V3_TURBO, WHISPER_SMALL, make_random_models,
)
from avatar import engine_envs
from models.cosyvoice_frontends import CAMPPlus, SpeechTokenizerV2, parameters
from models.tiny import _build_tiny_tokenizer
from models.tiny_cosyvoice import PUBLISHED_PARAMS


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
    assert set(RANDOM_MODELS) >= {"qwen2.5-0.5b-instruct", "faster-whisper-large-v3-turbo", "f5-tts-v1-base",
                                  "cosyvoice2-0.5b"}


def test_cosyvoice2_checkpoints_have_the_released_parameter_counts(engine_env) -> None:  # noqa: ANN001
    """The LLM, flow and HiFT at REAL_DIMS, counted by the writer in the cosyvoice env with the
    package's own classes (no weights written), against the released files' tensor listing."""
    python = engine_env("cosyvoice")
    done = subprocess.run([str(python), "-m", "models.tiny_cosyvoice_writer", "--count-parameters"],
                          cwd=engine_envs.REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == PUBLISHED_PARAMS


def test_cosyvoice2_front_ends_have_their_published_sizes() -> None:
    assert parameters(SpeechTokenizerV2()) == 123_714_568  # s3tokenizer's S3TokenizerV2, loaded from the released file
    assert parameters(CAMPPlus()) == pytest.approx(7.2e6, rel=0.06)  # 3D-Speaker: CAM++ 7.2 M (ours: 6.85 M)
