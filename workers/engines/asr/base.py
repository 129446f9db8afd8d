"""The ASR engine protocol: a 16 kHz mono utterance in, a Traditional Chinese transcript out."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from avatar.settings import Settings
from workers.engines.base import Availability

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class TranscriptSegment:
    start_s: float
    end_s: float
    text: str
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class Transcript:
    text: str  # zh-TW (Traditional characters)
    confidence: float  # 0..1, from the segments' log-probabilities and no-speech probability
    no_speech_prob: float  # 0..1, the highest of the segments'
    language: str
    duration_s: float
    segments: list[TranscriptSegment] = field(default_factory=list)


def confidence_of(segments: list[TranscriptSegment]) -> float:
    """Length-weighted mean token probability, discounted by the no-speech probability."""
    if not segments:
        return 0.0
    weights = [max(1, len(s.text)) for s in segments]
    logprob = sum(w * s.avg_logprob for w, s in zip(weights, segments)) / sum(weights)
    no_speech = max(s.no_speech_prob for s in segments)
    return round(max(0.0, min(1.0, math.exp(logprob) * (1.0 - no_speech))), 4)


class ASREngine(ABC):
    name: ClassVar[str]

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check; never loads the model."""

    @abstractmethod
    def transcribe(self, samples: np.ndarray, *, partial: bool = False) -> Transcript:
        """Transcribe float32 mono samples at 16 kHz. ``partial``: a live, cheaper pass while
        the user is still speaking. Raise EngineUnavailable or TransientEngineError."""

    def warm_up(self) -> bool:
        """Load the model before the first job, so the first turn does not pay for it; True
        when a model is now loaded in this process. Engines that hold nothing locally (a
        remote server) do nothing; a missing model is left for the job to report with its fix."""
        return False

