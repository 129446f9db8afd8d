"""The ``avatar`` command line (Typer)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli import secrets_file
from cli.speech import register as register_speech_commands
from cli.cloning import resynth as resynth_command
from cli.prosody import analyze as analyze_command
from cli.evaluation import eval_app
from cli.engines import app as engines_app
from avatar import engine_envs
from avatar.domain import LANES
from avatar.settings import get_settings

app = typer.Typer(help="AVATAR: local voice chat assistant (Celery/Redis task-queue system).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
models_app = typer.Typer(help="Model weights: tiny random models for offline runs, real ones for users.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models_app, name="models")
app.add_typer(engines_app, name="engines")
app.add_typer(eval_app, name="eval")
app.command("analyze")(analyze_command)
app.command("resynth")(resynth_command)


@app.command()
def api(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default: AVATAR_API_HOST).")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: AVATAR_API_PORT).")] = None,
) -> None:
    """Run the HTTP + Socket.IO API (refused without a secret key, or off loopback with a weak one)."""
    import uvicorn

    from api.security import InsecureSecretKey, check_secrets_for_bind
    from avatar.settings import MissingSecretKey

    settings = get_settings()
    bind = host or settings.api_host
    try:  # before uvicorn: a clear message and exit status 2, not a traceback from the factory
        check_secrets_for_bind(settings, bind)
    except (MissingSecretKey, InsecureSecretKey) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    uvicorn.run(
        "api.main:create_app", factory=True, host=bind, port=port or settings.api_port, log_level="info",
    )


@app.command()
def worker(
    lane: Annotated[str, typer.Option(help=f"Lane to serve: {', '.join(LANES)}.")],
    gpu: Annotated[Optional[str], typer.Option(help="Pin to this GPU index (sets CUDA_VISIBLE_DEVICES).")] = None,
    concurrency: Annotated[Optional[int], typer.Option(help="Processes/threads (default: per-lane setting).")] = None,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker dedicated to one lane."""
    if lane not in LANES:
        raise typer.BadParameter(f"unknown lane {lane!r}; choose one of {', '.join(LANES)}")
    if gpu is not None:
        # Before anything can initialise CUDA: the worker then sees only this device.
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    # The lane, for engines that serve either (VoxCPM books its VRAM under the lane's name).
    os.environ["AVATAR_WORKER_LANE"] = lane
    if concurrency:  # the pool's children read the lane's size too (e.g. the LLM's share of cores)
        os.environ[f"AVATAR_{lane.upper()}_CONCURRENCY"] = str(concurrency)
    settings = get_settings()
    _worker_metrics(settings, lane)
    from tasks.celery_app import app as celery_app

    pool = settings.llm_pool if lane == "llm" else "prefork"
    argv = [
        "worker", "-Q", lane, "-n", f"{lane}@%h", "-l", loglevel, "-P", pool,
        "-c", str(concurrency or settings.lane_concurrency(lane)),
    ]
    if settings.task_events:
        argv.append("-E")
    celery_app.worker_main(argv)


def _worker_metrics(settings, lane: str) -> None:  # noqa: ANN001
    # Multiprocess mode before prometheus_client is first imported (see avatar.worker_metrics).
    from avatar import worker_metrics

    custom = str(settings.metrics_dir) not in ("", ".")
    worker_metrics.prepare(settings.metrics_dir if custom else settings.data_dir / "metrics", lane)
    if settings.worker_metrics_port:
        worker_metrics.serve(settings.worker_metrics_port)


@app.command()
def flower(port: Annotated[Optional[int], typer.Option()] = None) -> None:
    """Run Flower (queue monitoring) with basic auth from settings."""
    settings = get_settings()
    if not settings.flower_password:
        typer.echo("refusing to start Flower without a password: set AVATAR_FLOWER_PASSWORD "
                   "(or run `avatar secrets`, which `make up` does)", err=True)
        raise typer.Exit(2)
    from tasks.celery_app import app as celery_app

    celery_app.start([
        "flower", f"--port={port or settings.flower_port}", f"--address={settings.api_host}",
        f"--basic-auth={settings.flower_user}:{settings.flower_password}",
    ])


@app.command()
def chat(
    text: Annotated[str, typer.Argument(help="What to say, e.g. 你好")],
    url: Annotated[Optional[str], typer.Option(help="API base URL (default: from settings).")] = None,
    save: Annotated[Optional[Path], typer.Option(help="Folder to save the audio chunks in.")] = None,
    mode: Annotated[Optional[str], typer.Option(
        help="TTS mode: fast, hq, or both (fast first, then the turn in HQ; waits for it).")] = None,
    voice: Annotated[Optional[Path], typer.Option(
        help="A voice sample to clone (5-30 s; uploaded, analysed, then used).", exists=True, dir_okay=False)] = None,
    transcript: Annotated[str, typer.Option(help="What the voice sample says (the cloning engines need it).")] = "",
    style: Annotated[Optional[str], typer.Option(help="A style hint for the voice, e.g. happy, calm.")] = None,
) -> None:
    """Send one typed message over Socket.IO and print the streamed reply."""
    import asyncio

    from cli.chat_client import ChatError, chat_once

    if mode is not None and mode not in ("fast", "hq", "both"):
        raise typer.BadParameter("fast, hq or both", param_hint="--mode")
    try:
        result = asyncio.run(chat_once(url or get_settings().resolved_public_base_url, text, save_dir=save,
                                       mode=mode, voice=voice, transcript=transcript, style=style))
    except ChatError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"session {result['session_id']} turn {result.get('turn_id')}")
    engines = sorted({c.get("engine") for c in result["chunks"] if c.get("engine")})
    if engines:
        typer.echo(f"spoken by: {', '.join(engines)}" + ("; HQ rendering ready" if result["hq"] else ""))
    if result["errors"]:
        raise typer.Exit(1)


@app.command()
def up(timeout: Annotated[float, typer.Option(help="Seconds to wait for a green /health.")] = 180) -> None:
    """Start the API, one worker per lane and Flower under supervisord (a crashed one is
    restarted); wait until healthy. Running already: starts nothing twice."""
    from cli import launcher

    local_secrets = _ensure_secrets()
    settings = get_settings()  # only now: it reads the secrets file
    unbuilt = engine_envs.missing_envs(settings)
    if unbuilt:  # a lane or the vLLM server would only crash-loop without its environment
        for why in unbuilt.values():
            typer.echo(f"error: {why}", err=True)
        raise typer.Exit(1)
    try:
        started = launcher.start(settings)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        typer.echo(f"failed to start supervisord: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(("started supervisord" if started else "supervisord already running")
               + f" ({launcher.config_path(settings)})")
    if settings.vllm_serve:
        typer.echo(f"waiting for vLLM to serve {settings.llm_model} ...")
        try:
            launcher.start_after_local_llm(settings)
        except (RuntimeError, OSError) as exc:
            typer.echo(f"failed: {exc}", err=True)
            raise typer.Exit(1) from exc
    typer.echo("waiting for /api/v1/health ...")
    try:
        body = launcher.wait_healthy(settings, timeout)
    except RuntimeError as exc:
        typer.echo(f"failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if not body or body.get("status") != "ok":
        typer.echo(f"not healthy after {timeout:.0f}s: {body and body.get('status')}; see {settings.log_dir}/", err=True)
        raise typer.Exit(1)
    typer.echo(launcher.program_table(settings))
    typer.echo(launcher.summary(settings, body, local_secrets))


def _ensure_secrets() -> secrets_file.LocalSecrets:
    local_secrets = secrets_file.ensure()
    if local_secrets.generated:
        typer.echo(local_secrets.announcement())
    return local_secrets


@app.command("secrets")
def secrets_command(
    compose: Annotated[Optional[Path], typer.Option(
        help="Instead: complete Docker Compose's env file (docker/.env) with the secrets it "
        "lacks (compose refuses to start without them).")] = None,
) -> None:
    """Generate the secrets not configured yet into {data_dir}/secrets.env (make up runs it)."""
    if compose is not None:
        made = secrets_file.ensure_compose_env(compose)
        for name in made:
            typer.echo(f"generated {name} into {compose}")
        typer.echo(f"{compose}: every secret compose needs is set (mode 0600)")
        return
    local_secrets = _ensure_secrets()
    if not local_secrets.generated:
        names = ", ".join(secrets_file.env_name(n) for n in sorted(local_secrets.from_file))
        names = names or "none, all configured in the environment or .env"
        typer.echo(f"secrets kept in {local_secrets.path}: {names}")


@app.command()
def down() -> None:
    """Stop everything `avatar up` started, and supervisord itself."""
    from cli import launcher

    stopped = launcher.stop(get_settings())
    for name in stopped:
        typer.echo(f"stopped {name}")
    if not stopped:
        typer.echo("nothing was running")


@app.command()
def status() -> None:
    """What supervisord runs, and the health summary."""
    from cli import launcher

    typer.echo(launcher.status_table(get_settings()))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Upgrade the configured database to ``revision`` (default: head)."""
    from avatar.db.migrate import upgrade

    settings = get_settings()
    upgrade(settings.resolved_database_url, revision)
    typer.echo(f"database at {revision}: {settings.resolved_database_url}")


@models_app.command("tiny")
def models_tiny() -> None:
    """Generate tiny randomly initialised models (offline) for AVATAR_PROFILE=tiny or tiny-gpu
    (which adds the engine environments' models: F5-TTS, CosyVoice, and VoxCPM when a lane uses it);
    with AVATAR_ASR_ENGINE=qwen_asr, the tiny Qwen3-ASR too (built in engine env qwen-asr)."""
    from models.download import ModelSetupError
    from models.tiny import make_tiny_models, tiny_models_of_profile

    settings = get_settings()
    try:
        engines = {"asr_engine": settings.asr_engine, "tts_fast_engine": settings.tts_fast_engine,
                   "tts_hq_engine": settings.tts_hq_engine}
        made = make_tiny_models(settings.resolved_models_dir, which=tiny_models_of_profile(settings.profile, engines))
    except ModelSetupError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for name, path in made.items():
        typer.echo(f"{name}: {path}")


@models_app.command("random")
def models_random(
    only: Annotated[Optional[list[str]], typer.Option("--only", help="Build just this model (repeat).")] = None,
) -> None:
    """Real-size models with random weights (the real architectures and dimensions) under
    models_dir/random, for measuring speed without the real weights (`make bench`)."""
    from models.download import ModelSetupError
    from models.real_size import RANDOM_MODELS, make_random_models

    settings = get_settings()
    try:
        made = make_random_models(settings.resolved_models_dir, only, log=typer.echo)
    except (ValueError, ModelSetupError) as exc:
        typer.echo(f"error: {exc}; known: {', '.join(RANDOM_MODELS)}", err=True)
        raise typer.Exit(2) from None
    for name, path in made.items():
        typer.echo(f"{name}: {path} (random weights, real size)")


@models_app.command("download")
def models_download(
    what: Annotated[str, typer.Argument(help="Which model: llm, asr or all.")] = "llm",
) -> None:
    """The configured local LLM (cpu profile); `avatar models pull` once its manifest entry is locked."""
    from models.pull import DEFAULT_MANIFEST, Manifest
    from models.download import download_models

    if all(entry.locked for entry in Manifest.load(DEFAULT_MANIFEST).entries("cpu")):
        cli_deploy.models_pull(profile="cpu", lock=False, manifest=None)
        return
    # Not locked yet: fetch the configured LLM and record its SHA256SUMS on first download.
    try:
        download_models(get_settings(), what)
    except Exception as exc:
        typer.echo(f"download failed: {exc}", err=True)
        raise typer.Exit(1) from exc


from cli import deploy as cli_deploy  # noqa: E402  (deployment commands live in their own module)

cli_deploy.register(app, models_app)
register_speech_commands(app)


def main() -> None:  # pragma: no cover
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
