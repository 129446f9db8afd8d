"""The engine half of ``avatar eval asr``: each recording through an ASR engine, timed. Runs
in an engine environment too, so it needs nothing beyond the engine (the scoring is
:mod:`workers.evaluation.asr`, in the main environment)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from avatar.audio_io import decode_audio
from workers.engines.asr.base import SAMPLE_RATE, ASREngine
from workers.evaluation.corpus import Corpus


def transcribe_corpus(engine: ASREngine, corpus: Corpus, *, root: Path,
                      on_progress: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """One row per recording (file, reference, hypothesis, seconds, duration, rtf). A
    recording that cannot be decoded gets its error; an engine that cannot run at all raises
    (EngineUnavailable) before the first row."""
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
        rows.append({**row, "duration_s": round(duration, 3), "hypothesis": transcript.text,
                     "seconds": round(seconds, 4), "rtf": round(seconds / duration, 4) if duration else None})
        on_progress()
    return rows
