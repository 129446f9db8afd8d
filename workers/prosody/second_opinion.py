"""The learned second opinion: a dimensional speech-emotion model's arousal / dominance /
valence for an utterance the gate accepted, kept beside the interpretable scores.

It never changes a score and never costs one: an engine that cannot run (no weights) or
fails leaves the scores as they are and says why in its own entry.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from workers.engines.base import EngineUnavailable
from workers.engines.emotion.base import MAPPING_ASSUMPTION, EmotionEngine

log = logging.getLogger(__name__)


def second_opinion(engine: EmotionEngine, samples: np.ndarray) -> dict[str, Any]:
    """16 kHz samples -> ``{engine, licence, assumption, values}`` or, when it cannot run,
    ``{engine, licence, assumption, error, fix}``."""
    entry: dict[str, Any] = {"engine": engine.name, "licence": engine.licence, "assumption": MAPPING_ASSUMPTION}
    try:
        entry["values"] = engine.predict(np.asarray(samples, dtype=np.float32))
    except EngineUnavailable as exc:
        entry.update(error=exc.reason, fix=exc.fix)
    except Exception as exc:  # noqa: BLE001 - a learned model's failure must not cost the scores
        log.exception("emotion engine %s failed", engine.name)
        entry.update(error=f"{type(exc).__name__}: {exc}", fix="")
    return entry
