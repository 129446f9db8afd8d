"""``avatar engines``: build and inspect the engine environments (:mod:`avatar.engine_envs`).

``install NAME`` creates the virtualenv, pip-installs the pinned requirements (pip's own output
shown), the project itself for envs whose lane worker runs there, and writes the marker last:
a build that fails anywhere removes the half-built env, so nothing counts as built that is not.
"""

from __future__ import annotations

import collections
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from avatar import engine_envs
from avatar.engine_envs import ENGINE_ENVS, EngineEnv
from avatar.settings import get_settings
from cli import vllm_server

app = typer.Typer(help="Engine environments: one virtualenv per engine family (vllm, f5, cosyvoice, voxcpm, qwen-asr), and pipecat for bench.peer.",
                  no_args_is_help=True)

Log = Callable[[str], None]
_ERROR_TAIL_LINES = 30


class EnvBuildError(RuntimeError):
    """A step of the build failed; the message ends with the failing command's output tail."""


def _base_python(env: EngineEnv) -> str:
    """The interpreter to create the venv with: ``python<version>``, or this one if it is that."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == env.python_version:
        return sys.executable
    found = shutil.which(f"python{env.python_version}")
    if not found:
        raise EnvBuildError(f"engine environment {env.name!r} needs Python {env.python_version}; "
                            f"install python{env.python_version} (e.g. apt-get install python{env.python_version}-venv)")
    return found


def _run(argv: list[str], log: Log, what: str) -> None:
    """Run ``argv``, streaming its output to ``log``; on failure raise with its last lines."""
    tail: collections.deque[str] = collections.deque(maxlen=_ERROR_TAIL_LINES)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", env=env) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip()
            tail.append(line)
            log(f"    {line}")
        code = proc.wait()
    if code != 0:
        raise EnvBuildError(f"{what} failed (exit {code}): {' '.join(argv)}\n" + "\n".join(tail))


@contextmanager
def _build_lock(name: str) -> Iterator[None]:
    # Two builds of one env at once (two test sessions, `make test` beside `make up`) would
    # install into the same folder: the second waits, then finds it built.
    root = engine_envs.envs_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def install(name: str, force: bool = False, log: Log = print) -> Path:
    """Build env ``name`` unless it is built (``force``: rebuild); return its python."""
    env = engine_envs.get(name)
    if not env.requirements.is_file():
        raise EnvBuildError(engine_envs.missing(name) or f"{env.requirements} is missing")
    with _build_lock(name):
        target, python = engine_envs.env_dir(name), engine_envs.python_of(name)
        if engine_envs.is_built(name) and not force:
            log(f"engine environment {name!r} already built: {target}")
            return python
        steps: list[tuple[str, list[str]]] = [
            (f"create the virtualenv {target}", [_base_python(env), "-m", "venv", str(target)])]
        pip = [str(python), "-m", "pip", "install"]
        if env.first:
            steps.append((f"install {' '.join(env.first)}", [*pip, *env.first]))
        shown = (env.requirements.relative_to(engine_envs.REPO)
                 if env.requirements.is_relative_to(engine_envs.REPO) else env.requirements)
        steps.append((f"install {shown}",
                      [*pip, *env.pip_args, "-r", str(env.requirements)]))
        if env.installs_project:
            steps.append(("install the project (no dependencies: the requirements hold them)",
                          [*pip, "--no-deps", "-e", str(engine_envs.REPO)]))
        total = len(steps) + 1
        started = time.monotonic()
        if target.exists():
            shutil.rmtree(target)  # a half-built env (no marker) or --force
        try:
            for number, (what, argv) in enumerate(steps, 1):
                log(f"[{number}/{total}] {what}")
                _run(argv, log, what)
            log(f"[{total}/{total}] write the marker {target / engine_envs.MARKER}")
            marker = {**engine_envs.marker_of(name), "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                      "build_s": round(time.monotonic() - started, 1)}
            partial = target / (engine_envs.MARKER + ".tmp")
            partial.write_text(json.dumps(marker, indent=2) + "\n")
            partial.replace(target / engine_envs.MARKER)  # atomic: the marker is whole or absent
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
        log(f"engine environment {name!r} built in {time.monotonic() - started:.0f}s: {target}")
        return python


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for file in files:
            try:
                total += os.lstat(os.path.join(root, file)).st_size
            except OSError:
                pass
    return total


@app.command("install")
def install_command(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(ENGINE_ENVS)}.")],
    force: Annotated[bool, typer.Option(help="Rebuild even if it is built.")] = False,
) -> None:
    """Build an engine environment (cached outside the checkout by its requirements' hash)."""
    if name not in ENGINE_ENVS:
        raise typer.BadParameter(f"unknown engine environment {name!r}; choose one of {', '.join(ENGINE_ENVS)}")
    try:
        install(name, force=force, log=typer.echo)
    except EnvBuildError as exc:
        typer.echo(f"error: engine environment {name!r} was not built: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command("list")
def list_command() -> None:
    """Each engine environment: built or not, where, how big."""
    for name, env in ENGINE_ENVS.items():
        if not env.requirements.is_file():
            typer.echo(f"{name:10} no requirements file ({env.requirements})")
            continue
        path = engine_envs.env_dir(name)
        if engine_envs.is_built(name):
            typer.echo(f"{name:10} built      {path}  {dir_size(path) / 1e9:.1f} GB")
        else:
            typer.echo(f"{name:10} not built  {path}  (avatar engines install {name})")


@app.command("path")
def path_command(name: Annotated[str, typer.Argument(help=f"One of: {', '.join(ENGINE_ENVS)}.")]) -> None:
    """The env's python (exit 1 if it is not built)."""
    if name not in ENGINE_ENVS:
        raise typer.BadParameter(f"unknown engine environment {name!r}; choose one of {', '.join(ENGINE_ENVS)}")
    typer.echo(str(engine_envs.python_of(name)))
    if (why := engine_envs.missing(name)) is not None:
        typer.echo(why, err=True)
        raise typer.Exit(1)


@app.command("vllm-server")
def vllm_server_command() -> None:
    """Run the local vLLM server in the foreground (what `avatar up` supervises)."""
    settings = get_settings()
    try:
        argv, env = vllm_server.command(settings)
    except vllm_server.ServerUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"exec {' '.join(argv)}")
    sys.stdout.flush()
    os.execve(argv[0], argv, env)  # supervisord's signals then reach vLLM itself
