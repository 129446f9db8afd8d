"""Deterministic benchmark TTS: fixed compute time, a tone whose length follows the text.

Used only by ``make bench`` to measure orchestration overhead (labelled as such)."""

from __future__ import annotations

import time

import numpy as np

from workers.engines.base import Availability
from workers.engines.tts.base import SynthesizedClip, TTSEngine, VoiceReference

SAMPLE_RATE = 16000


class BenchmarkTTS(TTSEngine):
    name = "benchmark"

    def availability(self) -> Availability:
        return Availability(True)

    def synthesize(
        self, text: str, *, voice: VoiceReference | None = None, style: str | None = None
    ) -> SynthesizedClip:
        time.sleep(self.settings.bench_tts_ms / 1000.0)
        if self.settings.bench_tts_fail == "oom":
            import torch  # the real exception type a CUDA engine raises; no GPU is touched

            raise torch.cuda.OutOfMemoryError("CUDA out of memory (injected by AVATAR_BENCH_TTS_FAIL=oom)")
        seconds = max(0.2, 0.2 * len(text.strip()))  # ~5 characters per second
        t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
        return SynthesizedClip(samples=0.1 * np.sin(2 * np.pi * 220.0 * t), sample_rate=SAMPLE_RATE)
