"""A tiny random VoxCPM folder (``avatar models tiny`` → ``<models_dir>/tiny/voxcpm``).

The layout of ``openbmb/VoxCPM-0.5B``, the files ``VoxCPMModel.from_local`` reads, built
from the ``voxcpm`` package's own classes and config schema with small dimensions and random
weights, so ``VoxCPM(folder)`` loads it with the real loading code and clones (noise) end to end:

- ``config.json``: a ``VoxCPMConfig`` (``"architecture": "voxcpm"``): the MiniCPM-4 text-semantic
  LM and its residual acoustic LM, the local encoder and the local DiT (flow matching), the
  scalar-quantisation bottleneck and the audio VAE's config;
- ``model.safetensors``: the model's state dict without the VAE; ``audiovae.safetensors``: the
  VAE's (16 kHz, the real rates 2·5·8·8: 640 samples per latent, two latents per patch);
- ``tokenizer.json`` + ``tokenizer_config.json``: what ``LlamaTokenizerFast`` loads: one token
  per character of :data:`models.tiny.TINY_CORPUS` (VoxCPM splits Chinese into characters
  anyway), byte fallback for anything else.

Small dimensions: width-64 LMs of 2 and 1 layers, a 1-layer encoder and DiT of width 32, a
16-dimensional latent, a VAE of 8/32 channels. The stop head is zero, so a random model never
says "stop": each sentence runs to the package's own cap (6 patches per text token + 10) or
``AVATAR_VOXCPM_MAX_LEN``, a length fixed by the text (predictable tests) rather than by chance.
``dtype`` is float32: bfloat16 on CPU is slow and gains nothing at this size. Nothing is downloaded.

``architecture="voxcpm2"`` writes the same at VoxCPM2's layout instead (``VoxCPM2Model`` and
its ``AudioVAEV2``: 4 latents per patch, 16 kHz in, 48 kHz out; ``tiny/voxcpm2``), which the
tests use to check the VoxCPM2 path (its isolated reference prompt).

torch and the ``voxcpm`` package live in the ``voxcpm`` engine environment
(``avatar engines install voxcpm``), not the main one: :func:`make_tiny_voxcpm` runs
:mod:`models.tiny_voxcpm_writer` there (``python -m models.tiny_voxcpm_writer DEST``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from avatar import engine_envs
from models.download import ModelSetupError

ENV = "voxcpm"
FOLDER = "voxcpm"
FOLDER_V2 = "voxcpm2"  # the VoxCPM2 variant (tests only: make_tiny_voxcpm(..., architecture="voxcpm2"))
ARCHITECTURES = ("voxcpm", "voxcpm2")  # config.json's "architecture", as the package reads it
MARKER = "tiny.json"  # written last: the folder is complete when it is there
REQUIRED = ("config.json", "model.safetensors", "audiovae.safetensors", "tokenizer.json", MARKER)


def is_complete(dest: Path) -> bool:
    return all((Path(dest) / name).is_file() for name in REQUIRED)


def make_tiny_voxcpm(dest: Path, *, seed: int = 0, force: bool = False, python: Path | None = None,
                     architecture: str = "voxcpm") -> Path:
    """Write the tiny VoxCPM folder to ``dest`` (unless complete; ``force``: rebuild).

    The builder runs with ``python`` if given, else here when this interpreter has the
    package, else in the ``voxcpm`` engine environment; a missing environment is a
    :class:`ModelSetupError` naming the command that builds it.
    """
    dest = Path(dest)
    if not force and is_complete(dest):
        return dest
    if python is None and importlib.util.find_spec("voxcpm") is not None:
        python = Path(sys.executable)
    if python is None:
        why = engine_envs.missing(ENV)
        if why:
            raise ModelSetupError(f"the tiny VoxCPM is built with the voxcpm package: {why}")
        python = engine_envs.python_of(ENV)
    argv = [str(python), "-m", "models.tiny_voxcpm_writer", str(dest), "--seed", str(seed),
            "--architecture", architecture]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=engine_envs.REPO, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise ModelSetupError(f"building the tiny VoxCPM failed (exit {done.returncode}): {' '.join(argv)}\n{tail}"
                              f"\nrebuild the environment if it is broken: avatar engines install {ENV} --force")
    return dest
