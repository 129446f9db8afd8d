"""``avatar eval asr``: each recording through an ASR engine, scored against its transcript."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from avatar.audio_io import decode_audio
from workers.engines.asr.base import SAMPLE_RATE, ASREngine
from workers.evaluation.corpus import Corpus
from workers.evaluation.metrics import CharErrors, char_errors, corpus_cer

ROW_FIELDS = ("engine", "file", "duration_s", "reference", "hypothesis", "substitutions", "deletions",
              "insertions", "reference_chars", "cer", "seconds", "rtf", "error")


def evaluate_asr(engine: ASREngine, corpus: Corpus, *, root: Path,
                 on_progress: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """One row per recording. A recording that cannot be decoded gets its error and no score;
    an engine that cannot run at all raises (EngineUnavailable) before the first row."""
    rows = []
    for recording in corpus.recordings:
        row: dict[str, Any] = {"engine": engine.name, "file": str(recording.path.relative_to(root)),
                               "reference": recording.transcript, "error": ""}
        try:
            samples = decode_audio(recording.path.read_bytes(), SAMPLE_RATE).astype(np.float32)
        except Exception as exc:  # noqa: BLE001 - PyAV raises its own types for every bad file
            rows.append({**row, "error": f"undecodable: {exc}"})
            on_progress()
            continue
        started = time.perf_counter()
        transcript = engine.transcribe(samples)
        seconds = time.perf_counter() - started
        duration = samples.size / SAMPLE_RATE
        row.update(duration_s=round(duration, 3), hypothesis=transcript.text, seconds=round(seconds, 4),
                   rtf=round(seconds / duration, 4) if duration else None)
        try:
            row.update(_counts(char_errors(recording.transcript, transcript.text)))
        except ValueError as exc:  # a transcript of punctuation only
            row["error"] = str(exc)
        rows.append(row)
        on_progress()
    return rows


def _counts(errors: CharErrors) -> dict[str, Any]:
    return {"substitutions": errors.substitutions, "deletions": errors.deletions, "insertions": errors.insertions,
            "reference_chars": errors.reference_chars, "cer": round(errors.cer, 4)}


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per engine: corpus CER over the scored rows, median and P95 real-time factor."""
    scored = [r for r in rows if not r.get("error") and r.get("reference_chars")]
    errors = [CharErrors(r["substitutions"], r["deletions"], r["insertions"], r["reference_chars"]) for r in scored]
    rtf = np.array([r["rtf"] for r in scored if r.get("rtf") is not None], dtype=float)
    return {
        "files": len(rows), "scored": len(scored), "audio_s": round(sum(r["duration_s"] for r in scored), 1),
        "cer": round(corpus_cer(errors), 4) if errors else None,
        "rtf_median": round(float(np.median(rtf)), 4) if rtf.size else None,
        "rtf_p95": round(float(np.percentile(rtf, 95)), 4) if rtf.size else None,
    }
