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

The builder imports torch, the ``cosyvoice`` package and ``onnx``, which live in the
``cosyvoice`` engine environment (``avatar engines install cosyvoice``), not the main one:
:func:`make_tiny_cosyvoice2` runs :mod:`models.tiny_cosyvoice_writer` there
(``python -m models.tiny_cosyvoice_writer DEST``).
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
# CosyVoice's QwenTokenizer adds these specials when it loads the tokenizer (ids after the vocabulary).
QWEN_TOKENIZER_EXTRA_SPECIALS = 19
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def is_complete(dest: Path) -> bool:
    return all((Path(dest) / name).is_file() for name in REQUIRED)


def make_tiny_cosyvoice2(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """Write the tiny CosyVoice 2 folder to ``dest`` (unless complete; ``force``: rebuild).

    The builder runs with ``python`` if given, else here when this interpreter has the
    package, else in the ``cosyvoice`` engine environment; a missing environment is a
    :class:`ModelSetupError` naming the command that builds it.
    """
    dest = Path(dest)
    if not force and is_complete(dest):
        return dest
    if python is None and importlib.util.find_spec("cosyvoice") is not None:
        python = Path(sys.executable)  # already inside the env (or an image that has the package)
    if python is None:
        why = engine_envs.missing(ENV)
        if why:
            raise ModelSetupError(f"the tiny CosyVoice 2 model is built with the CosyVoice package: {why}")
        python = engine_envs.python_of(ENV)
    argv = [str(python), "-m", "models.tiny_cosyvoice_writer", str(dest), "--seed", str(seed)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=engine_envs.REPO)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ModelSetupError(f"building the tiny CosyVoice 2 model failed (exit {done.returncode}): "
                              f"{' '.join(argv)}\n{tail}")
    return dest
