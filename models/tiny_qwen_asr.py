"""A tiny random Qwen3-ASR folder (``avatar models tiny`` → ``<models_dir>/tiny/qwen-asr``).

The files a real checkpoint (``Qwen/Qwen3-ASR-0.6B`` / ``-1.7B``) holds and that the package's
``Qwen3ASRModel.from_pretrained`` reads (``AutoModel`` and ``AutoProcessor`` with the classes
the ``qwen_asr`` package registers):

- ``config.json`` + ``model.safetensors`` + ``generation_config.json``: a
  ``Qwen3ASRForConditionalGeneration`` (model type ``qwen3_asr``: the thinker's audio encoder,
  128 mel bins, three stride-2 convolutions and 100-frame chunks as the package's processor
  counts them, and a Qwen3 text decoder with interleaved M-RoPE) at widths of 16-32 with
  random weights;
- ``vocab.json``, ``merges.txt``, ``tokenizer.json``, ``tokenizer_config.json``: a Qwen2
  byte-level BPE trained on :data:`models.tiny.TINY_CORPUS` plus the model's own output words
  (``language Chinese``, ``None``, ...), with the ChatML and audio special tokens the processor
  looks up (``audio_token`` = ``<|audio_pad|>``, ``<|audio_start|>``, ``<|audio_end|>``) and
  ``<asr_text>`` as an ordinary added token (the package finds it in the decoded text);
- ``preprocessor_config.json`` (Whisper's 128-bin log-mel front end) and ``chat_template.json``
  (the ChatML prompt with the audio between its start and end tokens).

Nothing is downloaded. The builder imports the ``qwen_asr`` package, which pins
transformers 4.57 and so lives in the ``qwen-asr`` engine environment: :func:`make_tiny_qwen_asr`
runs :mod:`models.tiny_qwen_asr_writer` there.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from avatar import engine_envs
from models.download import ModelSetupError

ENV = "qwen-asr"
MARKER = "tiny.json"  # written last by the writer
REQUIRED = ("config.json", "model.safetensors", "tokenizer_config.json", "vocab.json", "merges.txt",
            "preprocessor_config.json", MARKER)


def is_complete(dest: Path) -> bool:
    return all((Path(dest) / name).is_file() for name in REQUIRED)


def make_tiny_qwen_asr(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """Write the tiny Qwen3-ASR folder to ``dest`` (unless complete; ``force``: rebuild), with
    ``python`` if given, else here when this interpreter has ``qwen_asr``, else in the
    ``qwen-asr`` engine environment (a missing env is a :class:`ModelSetupError` naming the
    command that builds it)."""
    dest = Path(dest)
    if not force and is_complete(dest):
        return dest
    if python is None and importlib.util.find_spec("qwen_asr") is not None:
        python = Path(sys.executable)
    if python is None:
        if (why := engine_envs.missing(ENV)) is not None:
            raise ModelSetupError(f"the tiny Qwen3-ASR is built with the qwen-asr package: {why}")
        python = engine_envs.python_of(ENV)
    argv = [str(python), "-m", "models.tiny_qwen_asr_writer", str(dest), "--seed", str(seed)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=engine_envs.REPO, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ModelSetupError(f"building the tiny Qwen3-ASR failed (exit {done.returncode}): {' '.join(argv)}\n{tail}"
                              f"\nrebuild the environment if it is broken: avatar engines install {ENV} --force")
    return dest
