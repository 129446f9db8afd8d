"""Speech-input commands: ``avatar transcribe FILE`` and ``avatar talk FILE``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from avatar.settings import get_settings


def transcribe(
    file: Annotated[Path, typer.Argument(help="An audio file (WAV, FLAC, ...), any rate; mono or not.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole transcript as JSON.")] = False,
) -> None:
    """Transcribe a file with the configured ASR model (a quick check of a model)."""
    from cli.speech_client import load_16k_pcm
    from workers.engines.base import EngineUnavailable
    from workers.engines.registry import get_asr_engine

    settings = get_settings()
    pcm = load_16k_pcm(file)
    started = time.perf_counter()
    try:
        transcript = get_asr_engine(settings).transcribe(pcm.astype("float32") / 32768.0)
    except EngineUnavailable as exc:
        typer.echo(f"ASR unavailable: {exc.reason}" + (f"; fix: {exc.fix}" if exc.fix else ""), err=True)
        raise typer.Exit(1) from exc
    elapsed = time.perf_counter() - started
    if as_json:
        body = {"text": transcript.text, "confidence": transcript.confidence, "no_speech_prob": transcript.no_speech_prob,
                "language": transcript.language, "duration_s": transcript.duration_s, "elapsed_s": round(elapsed, 3),
                "segments": [seg.__dict__ for seg in transcript.segments]}
        typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        typer.echo(transcript.text)
        typer.echo(f"[confidence {transcript.confidence:.2f}, {transcript.duration_s:.1f} s of audio in {elapsed:.2f} s, "
                   f"model {settings.active_asr_model}]", err=True)


def talk(
    file: Annotated[Path, typer.Argument(help="A WAV file to stream as if spoken into the microphone.")],
    url: Annotated[Optional[str], typer.Option(help="API base URL (default: from settings).")] = None,
) -> None:
    """Stream a WAV over Socket.IO in real time and print the transcripts and the reply."""
    import asyncio

    from cli.speech_client import talk_once

    result = asyncio.run(talk_once(url or get_settings().resolved_public_base_url, file))
    if result["errors"]:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command()(transcribe)
    app.command()(talk)
