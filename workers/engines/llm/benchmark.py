"""Deterministic benchmark LLM: a fixed reply with fixed first-token and per-token delays.

Used by ``make bench`` and by tests that need a reply of known length and timing."""

from __future__ import annotations

import time
from collections.abc import Iterator

from workers.engines.base import Availability
from workers.engines.llm.base import ChatMessage, LLMEngine


class BenchmarkLLM(LLMEngine):
    name = "benchmark"

    def availability(self) -> Availability:
        return Availability(True)

    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None) -> Iterator[str]:
        reply = self.settings.bench_reply
        limit = max_tokens or self.settings.llm_max_tokens
        time.sleep(self.settings.bench_first_token_ms / 1000.0)
        for index in range(0, min(len(reply), 2 * limit), 2):  # two characters a token
            if index:
                time.sleep(self.settings.bench_token_delay_ms / 1000.0)
            yield reply[index : index + 2]
