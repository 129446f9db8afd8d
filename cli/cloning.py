"""``avatar resynth``: batch re-synthesis of past turns, with a progress bar."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Annotated, Optional

import typer

from avatar.settings import get_settings


def resynth(
    session: Annotated[Optional[str], typer.Option("--session", help="Re-synthesise this session's turns.")] = None,
    since: Annotated[Optional[datetime], typer.Option("--since", help="Every turn since this date/time (UTC).")] = None,
    voice: Annotated[Optional[str], typer.Option("--voice", help="Voice profile id (default: the voice each turn was spoken with).")] = None,
    mode: Annotated[str, typer.Option("--mode", help="fast or hq.")] = "hq",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the progress until done.")] = True,
) -> None:
    """Re-synthesise past turns on the batch lane (lowest priority); idempotent per
    (turn, voice, mode)."""
    from avatar.domain import TTSMode
    from avatar.resynthesis import UnknownTarget, create_job, progress
    from avatar.services import Services

    if (session is None) == (since is None):
        raise typer.BadParameter("give exactly one of --session or --since")
    if mode not in ("fast", "hq"):
        raise typer.BadParameter("--mode must be fast or hq")
    if since is not None and since.tzinfo is None:
        from datetime import UTC

        since = since.replace(tzinfo=UTC)
    services = Services.build(get_settings())  # sends through a producer-only Celery app
    try:
        job = create_job(services, session_id=session, since=since, voice_profile_id=voice, mode=TTSMode(mode))
    except UnknownTarget as exc:
        typer.echo(f"error {exc.code}: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"job {job['job_id']}: {job['total']} turn(s), mode {mode}")
    if not wait or not job["total"]:
        return
    shown = 0
    with typer.progressbar(length=job["total"], label="re-synthesising") as bar:
        while True:
            state = progress(services, job["job_id"])
            finished = state["done"] + state["skipped"] + state["failed"]
            bar.update(finished - shown)
            shown = finished
            if state["status"] == "completed":
                break
            time.sleep(0.5)
    typer.echo(f"done {state['done']}, skipped {state['skipped']} (already rendered), failed {state['failed']}")
    if state["failed"]:
        raise typer.Exit(1)
