"""Voice activity detection and turn-taking for one microphone stream (Silero VAD, ONNX).

The Silero model runs through onnxruntime from the ONNX file that faster-whisper bundles
(``faster_whisper/assets/silero_vad_v6.onnx``), so no torch or torchaudio is needed in the
API process. One inference session is shared by every stream of the process; each stream
keeps its own recurrent state and 64-sample context and is fed 32 ms windows (512 samples).

:class:`TurnDetector` turns the per-window speech probabilities into utterances:
speech starts after ``min_speech_ms`` of speech, ends after ``min_silence_ms`` of silence,
is padded by ``speech_pad_ms`` on both sides, and is cut at ``max_utterance_s``. Its audio
buffer is bounded: at most one maximum-length utterance plus the padding is ever kept.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
WINDOW = 512  # 32 ms at 16 kHz: the window Silero is trained on
CONTEXT = 64


def bundled_model_path() -> Path:
    """The ONNX file inside the installed faster-whisper, found without importing it (the
    API needs the file only, not CTranslate2 and PyAV)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.origin:
        raise RuntimeError('Silero VAD needs the faster-whisper package: pip install "faster-whisper>=1.1"')
    return Path(spec.origin).parent / "assets" / "silero_vad_v6.onnx"


@lru_cache(maxsize=2)
def _session(path: str) -> Any:
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1  # many small runs: threads cost more than they give
    opts.log_severity_level = 4
    return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"], sess_options=opts)


class SileroVAD:
    """Speech probability of successive 32 ms windows of one stream."""

    _lock = threading.Lock()

    def __init__(self, model_path: Path | None = None) -> None:
        with self._lock:
            self.session = _session(str(model_path or bundled_model_path()))
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros((1, 1, 128), dtype=np.float32)
        self.c = np.zeros((1, 1, 128), dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)

    def __call__(self, window: np.ndarray) -> float:
        x = np.concatenate([self.context, window]).reshape(1, CONTEXT + WINDOW)
        prob, self.h, self.c = self.session.run(None, {"input": x, "h": self.h, "c": self.c})
        self.context = window[-CONTEXT:]
        return float(prob[0])


@dataclass
class VADEvent:
    kind: str  # "speech_start" | "speech_end"
    at_ms: float  # position in the stream
    audio: np.ndarray | None = None  # speech_end: the padded utterance (int16)
    reason: str = ""  # speech_end: "silence" | "max_length" | "stream_end"


@dataclass
class TurnDetector:
    threshold: float = 0.5
    min_silence_ms: int = 500
    min_speech_ms: int = 250
    speech_pad_ms: int = 100
    max_utterance_s: float = 30.0
    vad: SileroVAD = field(default_factory=SileroVAD)

    def __post_init__(self) -> None:
        self.neg_threshold = max(0.05, self.threshold - 0.15)
        self._pad = int(self.speech_pad_ms * SAMPLE_RATE / 1000)
        self._max = int(self.max_utterance_s * SAMPLE_RATE)
        self._keep = self._pad + int(self.min_speech_ms * SAMPLE_RATE / 1000) + WINDOW
        self._buffer = np.zeros(0, dtype=np.int16)  # audio from sample ``_base`` on
        self._base = 0
        self._pending = np.zeros(0, dtype=np.float32)  # < one window, not yet analysed
        self._pos = 0  # samples analysed so far
        self.in_speech = False
        self._candidate: int | None = None  # where unconfirmed speech began
        self._rise: int | None = None  # where the probability last rose above neg_threshold
        self._start = 0
        self._silence: int | None = None

    # --- the audio kept -----------------------------------------------------------------
    @property
    def buffered_samples(self) -> int:
        return len(self._buffer) + len(self._pending)

    def _slice(self, start: int, end: int) -> np.ndarray:
        start, end = max(start, self._base), min(end, self._base + len(self._buffer))
        return self._buffer[start - self._base : max(start, end) - self._base].copy()

    def current_utterance(self) -> np.ndarray | None:
        """The utterance so far (int16), while the user speaks (for partial transcripts)."""
        if not self.in_speech:
            return None
        return self._slice(self._start - self._pad, self._pos)

    @property
    def pausing(self) -> bool:
        """In an utterance, but silent since the last window(s): it may be about to end."""
        return self.in_speech and self._silence is not None

    @property
    def position_ms(self) -> float:
        """How much of the stream has been analysed (the clock of the events' ``at_ms``)."""
        return self._ms(self._pos)

    def speech_ms(self) -> float:
        return (self._pos - self._start) * 1000 / SAMPLE_RATE if self.in_speech else 0.0

    def _trim(self) -> None:
        keep_from = (self._start - self._pad) if self.in_speech else (self._pos - self._keep)
        if self._candidate is not None:
            keep_from = min(keep_from, self._candidate - self._pad)
        drop = max(0, keep_from - self._base)
        if drop:
            self._buffer = self._buffer[drop:]
            self._base += drop

    # --- feeding ---------------------------------------------------------------------------
    def feed(self, pcm16: np.ndarray) -> list[VADEvent]:
        """Analyse more int16 samples; return the turn events they complete."""
        self._buffer = np.concatenate([self._buffer, pcm16.astype(np.int16, copy=False)])
        samples = np.concatenate([self._pending, pcm16.astype(np.float32) / 32768.0])
        events: list[VADEvent] = []
        usable = len(samples) - len(samples) % WINDOW
        for offset in range(0, usable, WINDOW):
            events.extend(self._step(self.vad(samples[offset : offset + WINDOW])))
        self._pending = samples[usable:]
        self._trim()
        return events

    def _ms(self, sample: int) -> float:
        return round(sample * 1000 / SAMPLE_RATE, 1)

    def _end(self, at: int, reason: str) -> VADEvent:
        audio = self._slice(self._start - self._pad, at + self._pad)
        self.in_speech, self._silence, self._candidate = False, None, None
        if reason == "silence":
            # Each utterance starts from a fresh recurrent state: after a long pause the
            # carried state otherwise damps the next utterance's first syllable.
            self.vad.reset()
        return VADEvent("speech_end", self._ms(at), audio, reason)

    def _step(self, prob: float) -> list[VADEvent]:
        window_start, self._pos = self._pos, self._pos + WINDOW
        events: list[VADEvent] = []
        if not self.in_speech:
            # Hysteresis: speech begins where the probability first rose above the lower
            # threshold, not at the window that crossed the upper one (soft onsets).
            if prob < self.neg_threshold:
                self._rise = None
            elif self._rise is None:
                self._rise = window_start
            if prob >= self.threshold:
                if self._candidate is None:
                    self._candidate = self._rise if self._rise is not None else window_start
                if self._pos - self._candidate >= self.min_speech_ms * SAMPLE_RATE / 1000:
                    self.in_speech, self._start, self._silence = True, self._candidate, None
                    self._candidate = self._rise = None
                    events.append(VADEvent("speech_start", self._ms(self._start)))
            elif prob < self.neg_threshold:
                self._candidate = None
            return events
        if prob >= self.threshold:
            self._silence = None
        elif prob < self.neg_threshold and self._silence is None:
            self._silence = window_start
        if self._silence is not None and self._pos - self._silence >= self.min_silence_ms * SAMPLE_RATE / 1000:
            events.append(self._end(self._silence, "silence"))
        elif self._pos - self._start >= self._max:
            events.append(self._end(self._pos, "max_length"))
            if prob >= self.threshold:  # still talking: the next utterance starts here
                self.in_speech, self._start = True, self._pos
                events.append(VADEvent("speech_start", self._ms(self._start)))
        return events

    def finish(self) -> list[VADEvent]:
        """End of stream (push-to-talk released): close the utterance in progress, if any."""
        if self.in_speech:
            return [self._end(self._silence if self._silence is not None else self._pos, "stream_end")]
        self._candidate = None
        return []
