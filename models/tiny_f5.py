"""The tiny F5-TTS the ``tiny-gpu`` profile's fast tier runs (``tiny/f5-tts`` and
``tiny/vocos-mel-24khz`` under models_dir).

Random weights of the real architectures, in the files F5-TTS's own loaders read:

- ``f5-tts/``: ``model.safetensors`` (a ``CFM`` around an F5-TTS v1 ``DiT``, keys under
  ``ema_model.`` as in the released checkpoints), ``vocab.txt`` (F5's pinyin tokens of
  :data:`models.tiny.TINY_CORPUS`, space first: id 0 is F5's unknown token), and ``model.yaml``,
  the package's own ``F5TTS_v1_Base`` config with small dimensions (the engine hands it to
  ``F5TTS(model=...)``, see :mod:`workers.engines.tts.f5`);
- ``vocos-mel-24khz/``: ``config.yaml`` + ``pytorch_model.bin``, the layout
  ``load_vocoder(is_local=True, local_path=...)`` reads (the mel front end of
  ``charactr/vocos-mel-24khz``: 24 kHz, 100 mels, hop 256, so the frames match F5's).

f5_tts and vocos live in the ``f5`` engine environment only, so the main environment's
``avatar models tiny`` runs :mod:`models.tiny_f5_writer` there.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from avatar import engine_envs
from models.download import ModelSetupError

F5_FOLDER = "f5-tts"
VOCOS_FOLDER = "vocos-mel-24khz"
CHECKPOINT = "model.safetensors"
VOCAB = "vocab.txt"
CONFIG = "model.yaml"  # beside the checkpoint: the architecture it was built with
F5_FILES = (CHECKPOINT, VOCAB, CONFIG)
VOCOS_FILES = ("config.yaml", "pytorch_model.bin")

# F5TTS_v1_Base is dim 1024, depth 22, 16 heads of 64, text_dim 512, 4 ConvNeXt text layers
# (336 M parameters); the same blocks at these sizes are well under a megabyte.
TINY_ARCH = {"dim": 64, "depth": 2, "heads": 2, "dim_head": 32, "ff_mult": 2, "text_dim": 32, "conv_layers": 1}
TINY_VOCOS = {"dim": 32, "intermediate_dim": 64, "num_layers": 1}
# charactr/vocos-mel-24khz's config.yaml: the backbone the released vocoder has.
REAL_VOCOS = {"dim": 512, "intermediate_dim": 1536, "num_layers": 8}


def is_complete(models_tiny: Path) -> bool:
    """Both folders hold every file the loaders read."""
    f5, vocos = Path(models_tiny) / F5_FOLDER, Path(models_tiny) / VOCOS_FOLDER
    return all((f5 / f).is_file() for f in F5_FILES) and all((vocos / f).is_file() for f in VOCOS_FILES)


def make_tiny_f5(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """Write the tiny F5-TTS to ``dest`` (``.../tiny/f5-tts``) and its vocoder beside it
    (``.../tiny/vocos-mel-24khz``), in the ``f5`` engine environment's python."""
    return _write_f5(dest, seed=seed, force=force, python=python, real_size=False)


def make_random_f5(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None) -> Path:
    """The same at F5TTS_v1_Base's own dimensions and the released vocoder's (random weights,
    real size: :mod:`models.real_size`); ``dest/f5-tts`` and ``dest/vocos-mel-24khz``."""
    if not force and is_complete(Path(dest)):
        return Path(dest)
    _write_f5(Path(dest) / F5_FOLDER, seed=seed, force=force, python=python, real_size=True)
    return Path(dest)


def _write_f5(dest: Path, *, seed: int, force: bool, python: Path | None, real_size: bool) -> Path:
    dest = Path(dest)
    if not force and is_complete(dest.parent):
        return dest
    if python is None:
        if (why := engine_envs.missing("f5")) is not None:
            raise ModelSetupError(f"the tiny F5-TTS is generated with f5_tts itself: {why}")
        python = engine_envs.python_of("f5")
    argv = [str(python), "-m", "models.tiny_f5_writer", "--dest", str(dest), "--seed", str(seed),
            *(["--real-size"] if real_size else [])]
    done = subprocess.run(argv, cwd=engine_envs.REPO, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ModelSetupError(f"generating the tiny F5-TTS failed (exit {done.returncode}): {' '.join(argv)}\n{tail}"
                              f"\nrebuild the environment if it is broken: avatar engines install f5 --force")
    return dest
