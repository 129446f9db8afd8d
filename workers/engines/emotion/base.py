"""The dimensional-emotion engine protocol: a 16 kHz mono utterance in, arousal, dominance and
valence (0..1) out. One file per provider beside this one."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from workers.engines.base import Availability

DIMENSIONS = ("arousal", "dominance", "valence")
# Shown with every stored opinion: the mapping to the prosody scores is ours, not the model's.
MAPPING_ASSUMPTION = (
    "assumption, not validated: dominance ~ confidence, valence ~ affability; arousal has no "
    "prosody-score counterpart. The model was trained on English podcasts (MSP-Podcast), not "
    "Taiwanese Mandarin"
)


class EmotionEngine(ABC):
    name: ClassVar[str]
    licence: ClassVar[str]  # of the weights

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check; never loads the model."""

    @abstractmethod
    def predict(self, samples: np.ndarray) -> dict[str, float]:
        """float32 mono samples at 16 kHz -> {arousal, dominance, valence}, each 0..1."""
