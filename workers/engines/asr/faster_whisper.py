"""faster-whisper (CTranslate2 Whisper): CPU int8 by default, GPU float16 when configured.

Language ``zh``, an initial prompt written in Traditional characters, and OpenCC ``s2twp`` on
the output, because Whisper often writes Simplified Chinese; not on a model that writes
Traditional itself (Breeze-ASR-25: :func:`avatar.text_zh.opencc_config_for`). Confidence
(0..1) comes from the segments' average log-probabilities, weighted by length, times the
chance that the audio is speech at all (1 - no-speech probability).

Models are loaded once per process and per folder; ``availability()`` only checks files.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from avatar.text_zh import opencc_config_for, to_traditional
from workers.engines.asr.base import (  # noqa: F401 (confidence_of: imported from here too)
    SAMPLE_RATE,
    ASREngine,
    Transcript,
    TranscriptSegment,
    confidence_of,
)
from workers.engines.base import Availability, EngineUnavailable
from avatar.model_files import missing_whisper_files, random_weights

_LOADED: dict[tuple[str, str, str, int], Any] = {}
_LOAD_LOCK = threading.Lock()


def _model(path: Path, device: str, compute_type: str, threads: int) -> Any:
    key = (str(path), device, compute_type, threads)
    with _LOAD_LOCK:
        if key not in _LOADED:
            from faster_whisper import WhisperModel

            _LOADED[key] = WhisperModel(
                str(path), device=device, compute_type=compute_type, cpu_threads=threads,
                local_files_only=True,
            )
        return _LOADED[key]


class FasterWhisperASR(ASREngine):
    name: ClassVar[str] = "faster_whisper"

    def _path(self, partial: bool) -> Path:
        if partial and self.settings.asr_partial_model:
            return Path(self.settings.asr_partial_model)
        return Path(self.settings.asr_model)

    def availability(self) -> Availability:
        if importlib.util.find_spec("faster_whisper") is None:  # found, not imported: /health stays cheap
            return Availability(False, "faster-whisper is not installed", 'pip install "faster-whisper>=1.1"')
        missing = missing_whisper_files(self._path(False))
        missing = [m for m in missing if m != "preprocessor_config.json"]  # optional: 80 mels then
        if missing:
            fix = "avatar models tiny" if self.settings.profile == "tiny" else "avatar models download asr"
            return Availability(False, f"no Whisper model at {self._path(False)} (missing {', '.join(missing)})", fix)
        return Availability(True)

    def _loaded(self, partial: bool) -> Any:
        s = self.settings
        compute_type = s.asr_compute_type or ("float16" if s.asr_device == "cuda" else "int8")
        return _model(self._path(partial), s.asr_device, compute_type, s.asr_cpu_threads)

    def warm_up(self) -> bool:
        if not self.availability().ok:
            return False
        self._loaded(partial=False)
        if self.settings.asr_partial_model:
            self._loaded(partial=True)
        return True

    def transcribe(self, samples: np.ndarray, *, partial: bool = False) -> Transcript:
        availability = self.availability()
        if not availability.ok:
            raise EngineUnavailable(self.name, availability.reason, availability.fix)
        s = self.settings
        model = self._loaded(partial)
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        opencc = opencc_config_for(self._path(partial), s.asr_opencc_config)
        options: dict[str, Any] = {
            "temperature": (0.0, 0.2, 0.4) if s.asr_temperature_fallback and not partial else 0.0}
        stand_in = random_weights(self._path(partial))
        if stand_in is not None and stand_in.tokens_per_s:
            # A real-size random model (see RandomWeights): a transcript as long as a real
            # model's for this much speech, decoded once, as clean speech would be.
            # Only text tokens: end of text, the other special tokens and timestamps (all
            # numbered from end of text on) would end or split it early.
            eot = model.hf_tokenizer.token_to_id("<|endoftext|>")
            specials = list(range(eot, model.hf_tokenizer.get_vocab_size()))
            options = {"temperature": 0.0, "suppress_tokens": [-1, *specials], "without_timestamps": True,
                       "max_new_tokens": max(1, math.ceil(len(audio) / SAMPLE_RATE * stand_in.tokens_per_s))}
        raw_segments, info = model.transcribe(
            audio,
            language="zh",
            task="transcribe",
            beam_size=1 if partial else s.asr_beam_size,
            initial_prompt=s.asr_initial_prompt or None,
            condition_on_previous_text=False,  # one utterance: nothing earlier to condition on
            vad_filter=False,  # the API's VAD already cut the utterance
            **options,
        )
        raw_segments = list(raw_segments)
        texts = [seg.text for seg in raw_segments]
        if stand_in is not None and stand_in.tokens_per_s and raw_segments:
            characters = itertools.cycle(stand_in.text)  # one character a token, as Mandarin
            texts = ["".join(next(characters) for _ in seg.tokens) for seg in raw_segments]
        segments = [
            TranscriptSegment(
                start_s=float(seg.start), end_s=float(seg.end),
                text=to_traditional(text, opencc),
                avg_logprob=float(seg.avg_logprob), no_speech_prob=float(seg.no_speech_prob),
            )
            for seg, text in zip(raw_segments, texts)
        ]
        segments = [seg for seg in segments if seg.text]
        return Transcript(
            text="".join(seg.text for seg in segments).strip(),
            confidence=confidence_of(segments),
            no_speech_prob=max((seg.no_speech_prob for seg in segments), default=1.0),
            language=info.language,
            duration_s=len(audio) / SAMPLE_RATE,
            segments=segments,
        )
