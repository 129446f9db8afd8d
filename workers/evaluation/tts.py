"""``avatar eval tts``: each text spoken by a tier's engine in the user's voice, then scored:
round-trip CER (the speech back through the ASR engine), speaker similarity to the voice's
reference (resemblyzer's 256-dim encoder, as the voice profiles store it) and real-time factor.

Synthesis (:mod:`workers.evaluation.synthesis`) is apart from the scoring here because an
engine whose lane runs in an engine environment synthesises there, and the scoring runs in
the main one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import soundfile as sf

from avatar.audio_io import resample
from workers.engines.asr.base import SAMPLE_RATE, ASREngine
from workers.evaluation.metrics import CharErrors, char_errors, corpus_cer
from workers.voice_analysis import speaker_embedding, speaker_similarity

ROW_FIELDS = ("tier", "engine", "index", "text", "hypothesis", "substitutions", "deletions", "insertions",
              "reference_chars", "cer", "similarity", "duration_s", "seconds", "rtf", "error")


def score(rows: list[dict[str, Any]], asr: ASREngine, reference_embedding: np.ndarray,
          on_progress: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    scored = []
    for row in rows:
        if row.get("error"):
            scored.append(row)
            on_progress()
            continue
        samples, rate = sf.read(row["wav"], dtype="float32")
        hypothesis = asr.transcribe(resample(samples, rate, SAMPLE_RATE).astype(np.float32)).text
        scored.append({
            **row, "hypothesis": hypothesis, **char_errors(row["text"], hypothesis).as_row(),
            "similarity": round(speaker_similarity(speaker_embedding(samples, rate), reference_embedding), 4),
        })
        on_progress()
    return scored


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    rtf = np.array([r["rtf"] for r in ok if r.get("rtf") is not None], dtype=float)
    errors = [CharErrors.from_row(r) for r in ok]
    return {
        "texts": len(rows), "spoken": len(ok),
        "cer": round(corpus_cer(errors), 4) if errors else None,
        "similarity": round(float(np.mean([r["similarity"] for r in ok])), 4) if ok else None,
        "rtf_median": round(float(np.median(rtf)), 4) if rtf.size else None,
    }
