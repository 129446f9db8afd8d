"""A tiny random CosyVoice 2 model folder (``avatar models tiny`` → ``<models_dir>/tiny/cosyvoice2``).

The folder has the layout and files of ``FunAudioLLM/CosyVoice2-0.5B``, built from the
package's own classes at small dimensions with random weights, so ``CosyVoice2(model_dir)``
loads it with the real loading code and synthesises (noise) end to end:

- ``cosyvoice2.yaml``: the HyperPyYAML config the class loads: ``Qwen2LM`` (text → speech
  tokens, with a tiny Qwen2 inside), ``CausalMaskedDiffWithXvec`` (the flow-matching
  decoder: speech tokens → mel), ``HiFTGenerator`` (the vocoder: mel → 24 kHz audio), the
  tokenizer and the mel front end;
- ``llm.pt``, ``flow.pt``, ``hift.pt``: their state dicts;
- ``CosyVoice-BlankEN/``: the Qwen2 the LLM wraps (config, weights, tokenizer files);
- ``campplus.onnx`` (speaker embedding: fbank ``(1, T, 80)`` → ``(1, 192)``) and
  ``speech_tokenizer_v2.onnx`` (128-bin Whisper log-mel ``(1, 128, T)`` and its length →
  ``(1, T/4)`` finite-scalar-quantised token ids, 25 per second): tiny random ONNX graphs
  with the real models' input and output signatures.

Small dimensions: a 2-layer Qwen2 of width 64, a speech-token vocabulary of 3**4 = 81 (the
real one is 3**8 = 6561: the same FSQ scheme on 4 dimensions instead of 8), one conformer
block before the flow's upsampling (its width stays 512: the package's encoder fixes it), a
32-channel flow decoder and a 64-channel HiFT. The LLM's stop-token bias is raised so a
random model ends an utterance near the package's minimum length (twice the text tokens)
rather than at its maximum (twenty times). Nothing is downloaded.

The same writer builds the **real-size random** CosyVoice2-0.5B (:func:`make_random_cosyvoice2`,
``avatar models random``): the released ``cosyvoice2.yaml``'s dimensions (:data:`REAL_DIMS`), the
Qwen2.5-0.5B inside the LLM with the 6561-token speech vocabulary, and the two ONNX front ends
at their released sizes (:mod:`models.cosyvoice_frontends`). Its folder declares a fixed speech
length (:class:`avatar.model_files.RandomWeights` ``tokens_per_char``) that the ``cosyvoice``
engine holds a random model to, in place of the stop-token bias.

The builder imports torch, the ``cosyvoice`` package and ``onnx``, which live in the
``cosyvoice`` engine environment (``avatar engines install cosyvoice``), not the main one:
:func:`make_tiny_cosyvoice2` runs :mod:`models.tiny_cosyvoice_writer` there
(``python -m models.tiny_cosyvoice_writer DEST [--real-size]``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from avatar import engine_envs
from models.download import ModelSetupError

ENV = "cosyvoice"
SPEECH_TOKEN_LEVELS, SPEECH_TOKEN_DIMS = 3, 4  # FSQ: 3 levels on 4 dimensions
SPEECH_TOKEN_SIZE = SPEECH_TOKEN_LEVELS**SPEECH_TOKEN_DIMS
LLM_WIDTH = 64
SPEAKER_DIM = 192  # CAM++'s embedding size: the flow's spk_embed_dim
STOP_BIAS = 3.0  # logit bias of the LLM's stop token (see the module docstring)
BLANK_EN = "CosyVoice-BlankEN"
MARKER = "tiny.json"  # written last: the folder is complete when it is there
REQUIRED = ("cosyvoice2.yaml", "llm.pt", "flow.pt", "hift.pt", "campplus.onnx", "speech_tokenizer_v2.onnx",
            f"{BLANK_EN}/config.json", f"{BLANK_EN}/model.safetensors", f"{BLANK_EN}/tokenizer.json", MARKER)
# The released CosyVoice2-0.5B (FunAudioLLM/CosyVoice examples/libritts/cosyvoice2/conf/cosyvoice2.yaml,
# the config its model folder ships): the flow's conformer encoder and U-Net decoder, HiFT's widths,
# the LLM's width (Qwen2.5-0.5B's hidden size) and the speech vocabulary (3**8 FSQ codes).
REAL_DIMS = {"llm_width": 896, "speech_tokens": 3**8, "encoder_heads": 8, "encoder_units": 2048, "encoder_blocks": 6,
             "decoder_channels": 256, "decoder_head_dim": 64, "decoder_blocks": 4, "decoder_mid_blocks": 12,
             "decoder_heads": 8, "hift_channels": 512}
TINY_DIMS = {"llm_width": LLM_WIDTH, "speech_tokens": SPEECH_TOKEN_SIZE, "encoder_heads": 2, "encoder_units": 64,
             "encoder_blocks": 1, "decoder_channels": 32, "decoder_head_dim": 16, "decoder_blocks": 1,
             "decoder_mid_blocks": 1, "decoder_heads": 2, "hift_channels": 64}
# The released CosyVoice-BlankEN is Qwen2.5-0.5B: its vocabulary (151,643 tokens and 22 specials)
# inside an embedding of 151,936 rows; CosyVoice's tokenizer adds its own specials in that room.
BLANK_EN_TOKENS, BLANK_EN_ROWS = 151_665, 151_936
# Published parameter counts of the released checkpoints (xingchensong/FlashCosyVoice's
# assets/{llm,flow,hift}.pt.weight_name list every tensor of FunAudioLLM/CosyVoice2-0.5B's files;
# llm.pt's count includes the Qwen2's tied output head a second time, as the state dict holds it).
PUBLISHED_PARAMS = {"llm.pt": 641_938_468, "flow.pt": 112_549_360, "hift.pt": 20_821_295}
# What a real CosyVoice 2 speaks: 25 speech tokens a second (token_frame_rate), Mandarin at about
# 5 characters a second with its pauses (models.real_size.ASR_TOKENS_PER_S says the same rate).
SPEECH_TOKENS_PER_S, CHARS_PER_S = 25, 5
RANDOM_MARKER = "random.json"
RANDOM_REQUIRED = tuple(name for name in REQUIRED if name != MARKER) + (RANDOM_MARKER,)
# CosyVoice's QwenTokenizer adds these specials when it loads the tokenizer (ids after the vocabulary).
QWEN_TOKENIZER_EXTRA_SPECIALS = 19
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def is_complete(dest: Path, required: tuple[str, ...] = REQUIRED) -> bool:
    return all((Path(dest) / name).is_file() for name in required)


def make_tiny_cosyvoice2(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """Write the tiny CosyVoice 2 folder to ``dest`` (unless complete; ``force``: rebuild).

    The builder runs with ``python`` if given, else here when this interpreter has the
    package, else in the ``cosyvoice`` engine environment; a missing environment is a
    :class:`ModelSetupError` naming the command that builds it.
    """
    return _build(dest, seed=seed, force=force, python=python, real_size=False)


def make_random_cosyvoice2(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """The same at CosyVoice2-0.5B's released size (random weights, real size: :mod:`models.real_size`)."""
    return _build(dest, seed=seed, force=force, python=python, real_size=True)


def _build(dest: Path, *, seed: int, force: bool, python: Path | None, real_size: bool) -> Path:
    dest = Path(dest)
    what = "real-size random CosyVoice 2" if real_size else "tiny CosyVoice 2"
    if not force and is_complete(dest, RANDOM_REQUIRED if real_size else REQUIRED):
        return dest
    if python is None and importlib.util.find_spec("cosyvoice") is not None:
        python = Path(sys.executable)  # already inside the env (or an image that has the package)
    if python is None:
        why = engine_envs.missing(ENV)
        if why:
            raise ModelSetupError(f"the {what} model is built with the CosyVoice package: {why}")
        python = engine_envs.python_of(ENV)
    argv = [str(python), "-m", "models.tiny_cosyvoice_writer", str(dest), "--seed", str(seed),
            *(["--real-size"] if real_size else [])]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=engine_envs.REPO)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ModelSetupError(f"building the {what} model failed (exit {done.returncode}): "
                              f"{' '.join(argv)}\n{tail}")
    return dest
