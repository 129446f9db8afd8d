"""The engine-environment seam on real virtualenvs and the real pip (this machine's local index):
the hash follows the requirements, ``missing()`` names the fix, a build writes its marker last and
a failed one leaves nothing that counts as built.

The builds here use a throwaway requirements file (one small pure-Python package) registered as
an extra env in a temporary ``AVATAR_ENGINE_ENVS_DIR``, so each takes seconds; the real envs are
built by the tests that use them (``engine_env`` fixture).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avatar import engine_envs
from avatar.engine_envs import ENGINE_ENVS, EngineEnv
from cli import launcher
from cli.engines import EnvBuildError, install
from cli.main import app
from avatar.settings import Settings

pytestmark = pytest.mark.slow

SMALL_PACKAGE = "iniconfig==2.3.0"  # pure Python, on the local index


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> EngineEnv:
    """Env ``scratch`` from a requirements file in tmp_path, built under tmp_path/envs."""
    monkeypatch.setenv("AVATAR_ENGINE_ENVS_DIR", str(tmp_path / "envs"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{SMALL_PACKAGE}\n")
    env = EngineEnv("scratch", requirements, installs_project=False)
    monkeypatch.setitem(ENGINE_ENVS, "scratch", env)
    return env


def test_hash_follows_the_requirements_file_and_the_pip_arguments(scratch: EngineEnv,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    first = engine_envs.env_hash("scratch")
    assert engine_envs.env_hash("scratch") == first and len(first) == 12
    assert engine_envs.env_dir("scratch").name == f"scratch-{first}"
    assert engine_envs.python_of("scratch") == engine_envs.env_dir("scratch") / "bin" / "python"

    scratch.requirements.write_text(f"{SMALL_PACKAGE}\nsix==1.17.0\n")
    changed = engine_envs.env_hash("scratch")
    assert changed != first

    monkeypatch.setitem(ENGINE_ENVS, "scratch", EngineEnv("scratch", scratch.requirements, False,
                                                          pip_args=("--no-deps",)))
    assert engine_envs.env_hash("scratch") not in (first, changed)


def test_envs_live_outside_the_checkout_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVATAR_ENGINE_ENVS_DIR", raising=False)
    root = engine_envs.envs_root()
    assert root == Path.home() / ".cache" / "avatar" / "engine-envs"
    assert engine_envs.REPO not in root.parents


def test_missing_names_the_env_and_the_command_that_builds_it(scratch: EngineEnv) -> None:
    why = engine_envs.missing("scratch")
    assert why is not None and "'scratch'" in why and "avatar engines install scratch" in why
    assert not engine_envs.is_built("scratch")


def test_build_writes_the_marker_last_and_a_changed_file_needs_a_new_build(scratch: EngineEnv) -> None:
    lines: list[str] = []
    python = install("scratch", log=lines.append)
    steps = [line for line in lines if line.startswith("[")]
    assert steps[0].startswith("[1/3] create the virtualenv") and steps[-1].startswith("[3/3] write the marker")
    assert any("iniconfig" in line for line in lines), "pip's own output is shown"
    assert engine_envs.is_built("scratch") and engine_envs.missing("scratch") is None
    marker = json.loads((engine_envs.env_dir("scratch") / engine_envs.MARKER).read_text())
    assert marker["hash"] == engine_envs.env_hash("scratch")
    assert marker["project_version"] == engine_envs.project_version()
    out = subprocess.run([str(python), "-c", "import iniconfig, sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert Path(out) == engine_envs.env_dir("scratch")

    lines.clear()
    assert install("scratch", log=lines.append) == python  # built: nothing redone
    assert lines == [f"engine environment 'scratch' already built: {engine_envs.env_dir('scratch')}"]

    old = engine_envs.env_dir("scratch")
    scratch.requirements.write_text(f"{SMALL_PACKAGE}\n# changed\n")
    why = engine_envs.missing("scratch")
    assert why is not None and old.name in why and "avatar engines install scratch" in why


def test_marker_of_another_project_version_does_not_count(scratch: EngineEnv) -> None:
    install("scratch", log=lambda _line: None)
    marker_path = engine_envs.env_dir("scratch") / engine_envs.MARKER
    marker = json.loads(marker_path.read_text())
    marker_path.write_text(json.dumps({**marker, "project_version": "0.0.0-other"}))
    assert not engine_envs.is_built("scratch")
    assert "avatar engines install scratch" in (engine_envs.missing("scratch") or "")


def test_broken_requirements_fail_clearly_and_leave_no_marker(scratch: EngineEnv) -> None:
    scratch.requirements.write_text("avatar-no-such-package-anywhere==0.0.1\n")
    with pytest.raises(EnvBuildError) as failure:
        install("scratch", log=lambda _line: None)
    message = str(failure.value)
    assert "avatar-no-such-package-anywhere" in message and "exit 1" in message
    assert not engine_envs.env_dir("scratch").exists(), "the half-built env is removed"
    assert not engine_envs.is_built("scratch")

    result = CliRunner().invoke(app, ["engines", "install", "scratch"])
    assert result.exit_code == 1
    assert "was not built" in result.output and "avatar-no-such-package-anywhere" in result.output
    assert not (engine_envs.env_dir("scratch") / engine_envs.MARKER).exists()


def test_an_env_that_installs_the_project_runs_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the f5 and cosyvoice envs do: the project, without its dependencies, over the
    # requirements (here only what avatar.engine_envs needs: nothing beyond the stdlib).
    monkeypatch.setenv("AVATAR_ENGINE_ENVS_DIR", str(tmp_path / "envs"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"{SMALL_PACKAGE}\n")
    monkeypatch.setitem(ENGINE_ENVS, "scratch", EngineEnv("scratch", requirements, installs_project=True))
    python = install("scratch", log=lambda _line: None)
    out = subprocess.run(
        [str(python), "-c", "from avatar import engine_envs; print(engine_envs.project_version(), engine_envs.REPO)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.split()
    assert out == [engine_envs.project_version(), str(engine_envs.REPO)]


def test_cli_list_and_path(scratch: EngineEnv) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["engines", "path", "scratch"]).exit_code == 1
    install("scratch", log=lambda _line: None)
    result = runner.invoke(app, ["engines", "path", "scratch"])
    assert result.exit_code == 0 and result.output.strip() == str(engine_envs.python_of("scratch"))
    listing = runner.invoke(app, ["engines", "list"]).output
    assert f"scratch    built      {engine_envs.env_dir('scratch')}" in listing
    assert "vllm" in listing


def test_profiles_name_the_envs_they_need() -> None:
    tiny_gpu = Settings(profile="tiny-gpu", models_dir=Path("/m"))
    assert engine_envs.required_envs(tiny_gpu) == ["vllm", "f5", "cosyvoice"]
    assert tiny_gpu.llm_engine == "openai" and tiny_gpu.llm_model == "/m/tiny/vllm-qwen2"
    assert tiny_gpu.tts_device == "cpu" and tiny_gpu.asr_device == "cpu"
    assert engine_envs.required_envs(Settings(profile="tiny")) == []
    assert engine_envs.env_for_engine("openai") is None and engine_envs.env_for_engine("f5") == "f5"
    # Under tiny-gpu supervisord also runs the vLLM server (so `avatar down` stops it), and each
    # speech lane's worker runs from its engine's env.
    config = launcher.render_config(tiny_gpu)
    assert "[program:vllm]" in config and "engines vllm-server" in config
    assert f"command = {engine_envs.python_of('f5')} -m cli worker --lane tts_fast" in config
    assert f"command = {engine_envs.python_of('cosyvoice')} -m cli worker --lane tts_hq" in config
    assert f"command = {sys.executable} -m cli worker --lane llm" in config
    plain = launcher.render_config(Settings(profile="tiny"))
    assert "[program:vllm]" not in plain and f"command = {sys.executable} -m cli worker --lane tts_fast" in plain
