"""The engine half of ``avatar eval tts``: each text spoken into a WAV, timed. Runs in an
engine environment too, so it needs nothing beyond the engine and soundfile."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import soundfile as sf

from workers.engines.tts.base import TTSEngine, VoiceReference

TIMINGS = "timings.json"


def synthesise(engine: TTSEngine, voice: VoiceReference, texts: list[str], out_dir: Path,
               on_progress: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """Each text to ``out_dir/NNN.wav``; the rows (text, seconds, duration) also go to
    ``out_dir/timings.json``. A text the engine refuses gets its error."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, text in enumerate(texts):
        row: dict[str, Any] = {"engine": engine.name, "index": index, "text": text, "error": ""}
        started = time.perf_counter()
        try:
            clip = engine.synthesize(text, voice=voice)
        except Exception as exc:  # noqa: BLE001 - reported per text; the others still run
            rows.append({**row, "error": f"{type(exc).__name__}: {exc}"})
            on_progress()
            continue
        seconds = time.perf_counter() - started
        wav = out_dir / f"{index:03d}.wav"
        sf.write(wav, clip.samples, clip.sample_rate)
        rows.append({**row, "wav": str(wav), "seconds": round(seconds, 4), "duration_s": round(clip.duration_s, 3),
                     "rtf": round(seconds / clip.duration_s, 4) if clip.duration_s else None})
        on_progress()
    (out_dir / TIMINGS).write_text(json.dumps(rows, ensure_ascii=False, indent=1), encoding="utf-8")
    return rows
