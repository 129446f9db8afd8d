"""The LLM engine protocol: chat messages in, text deltas out.

Engines are synchronous generators because they run inside synchronous Celery tasks,
one model per worker process; each yields text as soon as the model produces it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import ClassVar, TypedDict

from avatar.settings import Settings
from workers.engines.base import Availability


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


class LLMEngine(ABC):
    name: ClassVar[str]

    def __init__(self, *, settings: Settings) -> None:
        self.settings = settings

    @abstractmethod
    def availability(self) -> Availability:
        """Cheap check (files on disk, server reachable); never loads the model."""

    @abstractmethod
    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield the reply as text deltas. Raise EngineUnavailable or TransientEngineError."""

    def warm_up(self) -> bool:
        """Load the model before the first job, so the first turn does not pay for it; True
        when a model is now loaded in this process. Engines that hold nothing locally (a
        remote server) do nothing; a missing model is left for the job to report with its fix."""
        return False

