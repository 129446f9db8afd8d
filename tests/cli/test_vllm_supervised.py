"""``avatar up`` on the ``tiny-gpu`` profile runs the local vLLM server (engine env ``vllm``) as a
supervisord program beside the API and the workers; the llm lane reaches it through the
``openai`` engine; ``avatar down`` stops it with everything else, its engine-core child included.

The speech lanes run espeak here (F5-TTS and CosyVoice have their own tests), so the only engine
env this stack needs is ``vllm``; the ``engine_env`` fixture builds it when missing.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from avatar.settings import Settings
from cli import launcher
from tests.cli.test_supervisor import processes_of
from tests.conftest import make_system
from tests.system import System, free_port

pytestmark = pytest.mark.slow


def _stack(tmp: Path, models_dir: Path, **env: str) -> tuple[System, Path]:
    system = make_system(tmp, "vllm_up", models_dir, AVATAR_PROFILE="tiny-gpu",
                         AVATAR_TTS_FAST_ENGINE="espeak", AVATAR_TTS_HQ_ENGINE="espeak",
                         AVATAR_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                         AVATAR_FLOWER_PORT=str(free_port()), **env)
    cwd = tmp / "cwd"
    cwd.mkdir()
    return system, cwd


def _avatar(system: System, cwd: Path, *args: str, timeout: float = 400) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", *args], env=system.env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_up_refuses_without_the_vllm_env_and_names_the_command(tmp_path: Path, tiny_models_dir: Path) -> None:
    system, cwd = _stack(tmp_path, tiny_models_dir, AVATAR_ENGINE_ENVS_DIR=str(tmp_path / "no-envs"))
    up = _avatar(system, cwd, "up", "--timeout", "30", timeout=60)
    assert up.returncode == 1
    assert "engine environment 'vllm' is not built" in up.stderr and "avatar engines install vllm" in up.stderr
    assert not launcher.supervisor_running(Settings(data_dir=system.data_dir))
    assert processes_of(system.data_dir) == []


def test_up_serves_the_llm_from_vllm_and_down_stops_it(
    tmp_path: Path, tiny_models_dir: Path, engine_env,  # noqa: ANN001
) -> None:
    engine_env("vllm")
    system, cwd = _stack(tmp_path, tiny_models_dir)
    settings = Settings(data_dir=system.data_dir)
    try:
        up = _avatar(system, cwd, "up", "--timeout", "360")
        assert up.returncode == 0, up.stdout + up.stderr
        programs = {p["name"]: p for p in launcher.processes(settings)}
        assert programs["vllm"]["statename"] == "RUNNING"
        vllm_cmdline = Path(f"/proc/{programs['vllm']['pid']}/cmdline").read_bytes().split(b"\0")
        assert b"vllm.entrypoints.openai.api_server" in vllm_cmdline  # exec'd: supervisord holds vLLM itself

        health = httpx.get(f"{system.base_url}/api/v1/health", timeout=10).json()
        assert health["engine_envs"]["vllm"]["built"] is True
        llm = health["engines"]["llm"]
        assert llm["engine"] == "openai" and llm["available"] is True, llm
        served = httpx.get(f"{system.env['AVATAR_LLM_BASE_URL']}/models", timeout=10).json()
        assert [m["id"] for m in served["data"]] == [str(tiny_models_dir / "tiny" / "vllm-qwen2")]

        down = _avatar(system, cwd, "down", timeout=200)
        assert down.returncode == 0, down.stdout + down.stderr
        assert "stopped vllm" in down.stdout
        assert processes_of(system.data_dir) == [], "vLLM or its engine core outlived `avatar down`"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{system.env['AVATAR_LLM_BASE_URL']}/models", timeout=3)
    finally:
        _avatar(system, cwd, "down", timeout=200)
