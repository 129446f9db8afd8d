"""``avatar eval asr DIR`` and ``avatar eval tts --voice ID TEXTS``: quality measured on your
own recordings and voices, with your real weights, per engine; tables printed and written as
CSV, with a progress bar.

An engine whose lane runs in an engine environment (F5-TTS, CosyVoice, ...) is run there: this
command runs itself again with that environment's python for the engine's part (transcribing,
or synthesising into WAVs) and scores in this one.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

eval_app = typer.Typer(help="Measure quality on your own recordings and voices (CER, speaker similarity, RTF).",
                       no_args_is_help=True)
REPO = Path(__file__).resolve().parents[1]


def _progress(total: int, label: str) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        transient=False)
    task = progress.add_task(label, total=total)
    return progress, lambda: progress.advance(task)


def _env_python(engine: str) -> Path | None:
    """The engine environment's python when ``engine`` runs in one and this is not it."""
    from avatar import engine_envs

    env = engine_envs.env_for_engine(engine)
    if env is None or Path(sys.prefix).resolve() == engine_envs.env_dir(env).resolve():
        return None
    if why := engine_envs.missing(env):
        _fail(why)
    return engine_envs.python_of(env)


def _fail(message: str, fix: str = "") -> None:
    typer.echo(f"error: {message}" + (f"\n  fix: {fix}" if fix else ""), err=True)
    raise typer.Exit(2)


def _in_env(python: Path, args: list[str]) -> None:
    done = subprocess.run([str(python), "-m", "cli", "eval", *args], cwd=REPO)  # its progress shows as it goes
    if done.returncode != 0:
        raise typer.Exit(done.returncode)


def _write_csv(path: Path, fields: tuple[str, ...], rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)


def _table(title: str, columns: list[str], lines: list[list[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in ("engine", "tier") else "right")
    for line in lines:
        table.add_row(*("—" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v) for v in line))
    Console().print(table)


def _engine_ready(engine: Any) -> None:
    ready = engine.availability()
    if not ready.ok:
        _fail(f"{engine.name}: {ready.reason}", ready.fix)


@eval_app.command("asr")
def eval_asr(
    folder: Annotated[Path, typer.Argument(help="Recordings with transcripts: a Common Voice folder (test.tsv + clips/) or audio files each with a .txt.")],
    engines: Annotated[Optional[list[str]], typer.Option("--engine", help="ASR engine (repeat for several; default: the configured one).")] = None,
    tsv: Annotated[Optional[str], typer.Option(help="The Common Voice table to read (default test.tsv).")] = None,
    limit: Annotated[Optional[int], typer.Option(min=1, help="Only the first N recordings.")] = None,
    csv_path: Annotated[Path, typer.Option("--csv", help="Per-recording rows.")] = Path("eval-asr.csv"),
    rows_json: Annotated[Optional[Path], typer.Option(hidden=True)] = None,  # the engine-env child's answer
) -> None:
    """Character error rate (after zh-TW normalisation) and real-time factor of each ASR engine."""
    from avatar.settings import get_settings
    from workers.engines.registry import ASR_PROVIDERS, get_asr_engine
    from workers.evaluation.corpus import CorpusError, read_corpus
    from workers.evaluation.transcription import transcribe_corpus

    settings = get_settings()
    unknown = [name for name in engines or [] if name not in ASR_PROVIDERS]
    if unknown:
        _fail(f"unknown ASR engine {', '.join(unknown)}; choose from {', '.join(ASR_PROVIDERS)}")
    try:
        corpus = read_corpus(folder, tsv=tsv, limit=limit)
    except CorpusError as exc:
        _fail(str(exc))
    rows: list[dict[str, Any]] = []
    for name in engines or [settings.asr_engine]:
        python = _env_python(name)
        if python is not None:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "rows.json"
                _in_env(python, ["asr", str(folder), "--engine", name, *(["--tsv", tsv] if tsv else []),
                                 *(["--limit", str(limit)] if limit else []), "--rows-json", str(out)])
                rows += json.loads(out.read_text(encoding="utf-8"))
            continue
        engine = get_asr_engine(settings.model_copy(update={"asr_engine": name}))
        _engine_ready(engine)
        progress, step = _progress(len(corpus.recordings), f"asr {name}")
        with progress:
            rows += transcribe_corpus(engine, corpus, root=Path(folder), on_progress=step)
    if rows_json is not None:  # the engine-env child: the main environment scores
        rows_json.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
        return
    from workers.evaluation.asr import ROW_FIELDS, score_rows, summarise  # jiwer: the main environment's

    rows = score_rows(rows)
    for file, why in corpus.skipped:
        typer.echo(f"skipped {file}: {why}", err=True)
    by_engine = {name: summarise([r for r in rows if r["engine"] == name]) for name in dict.fromkeys(r["engine"] for r in rows)}
    _table(f"ASR on {folder} ({corpus.layout} layout)", ["engine", "files", "scored", "audio s", "CER", "RTF median", "RTF P95"],
           [[name, s["files"], s["scored"], s["audio_s"], s["cer"], s["rtf_median"], s["rtf_p95"]] for name, s in by_engine.items()])
    _write_csv(csv_path, ROW_FIELDS, rows)
    typer.echo(f"rows: {csv_path}")


def _texts(items: list[str]) -> list[str]:
    """Each item a file of texts (one per line) or a text itself."""
    texts: list[str] = []
    for item in items:
        path = Path(item)
        texts += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()] \
            if path.is_file() else [item.strip()]
    return [t for t in texts if t]


@eval_app.command("tts")
def eval_tts(
    voice: Annotated[str, typer.Option("--voice", help="Voice profile id (ready).")],
    texts: Annotated[list[str], typer.Argument(help="Texts to speak, or files of texts (one per line).")],
    tier: Annotated[str, typer.Option(help="fast, hq or both.")] = "both",
    csv_path: Annotated[Path, typer.Option("--csv", help="Per-text rows.")] = Path("eval-tts.csv"),
) -> None:
    """Round-trip CER (through the ASR engine), speaker similarity to the voice's reference
    and real-time factor of each configured speech tier, in that voice."""
    import uuid

    import numpy as np
    import soundfile as sf

    from avatar import engine_envs
    from avatar.db import VoiceProfile, session_scope
    from avatar.settings import get_settings
    from workers.engines.registry import get_asr_engine, get_tts_engine_named, tts_engine_name
    from workers.evaluation.synthesis import TIMINGS, synthesise
    from workers.evaluation.tts import ROW_FIELDS, score, summarise
    from workers.voice_analysis import speaker_embedding
    from workers.voice_profiles import load_voice_reference

    if tier not in ("fast", "hq", "both"):
        raise typer.BadParameter("--tier must be fast, hq or both")
    settings = get_settings()
    spoken = _texts(texts)
    if not spoken:
        _fail("no text to speak")
    try:
        reference = load_voice_reference(voice, settings)
    except ValueError:  # not a UUID
        reference = None
    if reference is None:
        _fail(f"voice profile {voice} not found or not ready", "GET /api/v1/voice-profiles lists yours with their status")
    with session_scope(settings.resolved_database_url) as db:
        stored = db.get(VoiceProfile, uuid.UUID(voice)).embedding
    samples, rate = sf.read(reference.audio_path, dtype="float32")
    embedding = np.asarray(stored, dtype=np.float32) if stored is not None else speaker_embedding(samples, rate)
    # The round trip runs here: an ASR engine whose lane runs in an engine env (qwen_asr) is
    # replaced by faster-whisper, and the table says which one scored.
    asr_name = settings.asr_engine if engine_envs.env_for_engine(settings.asr_engine) is None else "faster_whisper"
    asr = get_asr_engine(settings.model_copy(update={"asr_engine": asr_name}))
    _engine_ready(asr)

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="avatar-eval-tts-") as tmp:
        for mode in (("fast", "hq") if tier == "both" else (tier,)):
            name = tts_engine_name(mode, settings)
            out = Path(tmp) / mode
            python = _env_python(name)
            if python is not None:
                _in_env(python, ["synthesize", "--engine", name, "--voice-json", json.dumps(asdict(reference), default=str),
                                 "--out", str(out), *spoken])
                synthesised = json.loads((out / TIMINGS).read_text(encoding="utf-8"))
            else:
                engine = get_tts_engine_named(name, settings)
                _engine_ready(engine)
                progress, step = _progress(len(spoken), f"{mode} {name}: speak")
                with progress:
                    synthesised = synthesise(engine, reference, spoken, out, on_progress=step)
            progress, step = _progress(len(synthesised), f"{mode} {name}: score")
            with progress:
                rows += [{**r, "tier": mode} for r in score(synthesised, asr, embedding, on_progress=step)]
    for row in rows:
        if row.get("error"):
            typer.echo(f"{row['tier']} {row['engine']} text {row['index']}: {row['error']}", err=True)
    lines = []
    for mode in dict.fromkeys(r["tier"] for r in rows):
        part = [r for r in rows if r["tier"] == mode]
        s = summarise(part)
        lines.append([mode, part[0]["engine"], s["texts"], s["spoken"], s["cer"], s["similarity"], s["rtf_median"]])
    _table(f"TTS in voice {voice} (round trip through {asr.name})",
           ["tier", "engine", "texts", "spoken", "CER", "similarity", "RTF median"], lines)
    _write_csv(csv_path, ROW_FIELDS, rows)
    typer.echo(f"rows: {csv_path}")


@eval_app.command("synthesize", hidden=True)
def eval_synthesize(
    engine: Annotated[str, typer.Option("--engine")],
    voice_json: Annotated[str, typer.Option("--voice-json")],
    out: Annotated[Path, typer.Option("--out")],
    texts: Annotated[list[str], typer.Argument()],
) -> None:
    """The engine-environment half of ``eval tts``: speak the texts into WAVs."""
    from avatar.settings import get_settings
    from workers.engines.registry import get_tts_engine_named
    from workers.engines.tts.base import VoiceReference
    from workers.evaluation.synthesis import synthesise

    fields = json.loads(voice_json)
    voice = VoiceReference(**{**fields, "audio_path": Path(fields["audio_path"])})
    tts = get_tts_engine_named(engine, get_settings())
    _engine_ready(tts)
    progress, step = _progress(len(texts), f"{engine}: speak")
    with progress:
        synthesise(tts, voice, texts, out, on_progress=step)
