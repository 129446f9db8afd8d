"""``avatar eval asr``: the transcripts (:mod:`workers.evaluation.transcription`) scored
against the references, and each engine's summary."""

from __future__ import annotations

from typing import Any

import numpy as np

from workers.evaluation.metrics import CharErrors, char_errors, corpus_cer

ROW_FIELDS = ("engine", "file", "duration_s", "reference", "hypothesis", "substitutions", "deletions",
              "insertions", "reference_chars", "cer", "seconds", "rtf", "error")


def score_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each transcribed row with its character errors against the reference (a reference of
    punctuation only gets an error instead)."""
    scored = []
    for row in rows:
        if row.get("error"):
            scored.append(row)
            continue
        try:
            scored.append({**row, **char_errors(row["reference"], row["hypothesis"]).as_row()})
        except ValueError as exc:
            scored.append({**row, "error": str(exc)})
    return scored


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per engine: corpus CER over the scored rows, median and P95 real-time factor."""
    scored = [r for r in rows if not r.get("error") and r.get("reference_chars")]
    errors = [CharErrors.from_row(r) for r in scored]
    rtf = np.array([r["rtf"] for r in scored if r.get("rtf") is not None], dtype=float)
    return {
        "files": len(rows), "scored": len(scored), "audio_s": round(sum(r["duration_s"] for r in scored), 1),
        "cer": round(corpus_cer(errors), 4) if errors else None,
        "rtf_median": round(float(np.median(rtf)), 4) if rtf.size else None,
        "rtf_p95": round(float(np.percentile(rtf, 95)), 4) if rtf.size else None,
    }
