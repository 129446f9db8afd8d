"""The TTS engine protocol: one sentence of text (plus an optional voice reference and
style hint) in, one clip of mono audio out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from avatar.settings import Settings
from workers.engines.base import Availability


@dataclass(frozen=True)
class VoiceReference:
    """A user's uploaded voice: the normalised sample and what was said in it."""

    profile_id: str
    audio_path: Path
    transcript: str = ""
    # Per-engine settings fitted when the profile was created (e.g. ``{"lite": {...}}``);
    # an engine without its entry fits them itself.
    adaptation: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SynthesizedClip:
    samples: np.ndarray  # float32, mono, -1..1
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return len(self.samples) / float(self.sample_rate)


class TTSEngine(ABC):
    name: ClassVar[str]

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check; never loads the model."""

    @abstractmethod
    def synthesize(
        self, text: str, *, voice: VoiceReference | None = None, style: str | None = None
    ) -> SynthesizedClip:
        """Speak one sentence. Raise EngineUnavailable or TransientEngineError."""
