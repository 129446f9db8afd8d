"""Runs the ``qwen_asr`` engine inside the qwen-asr engine environment and writes what happened
as JSON (read by tests/workers/test_qwen_asr_engine.py).

``python -m tests.engine_probes.qwen_asr_probe OUT`` with a JSON list of cases on stdin
(``{"name", "audio": {"speech": TEXT} | {"silence_s": S}, "partial", "settings"}``): each case
through :class:`QwenASR` (availability, loading by the package's ``Qwen3ASRModel.from_pretrained``,
the model's ``generate``), its transcript or its ``EngineUnavailable``, the package's own
parse of the model's answer (recorded by wrapping ``qwen_asr.parse_asr_output``; every call
goes through unchanged) and the classes the package loaded. Settings also come from the
``AVATAR_*`` environment (models dir, profile).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import qwen_asr
from avatar.settings import Settings
from tests.speech_audio import espeak_16k
from workers.engines.asr import qwen_asr as engine_module
from workers.engines.asr.qwen_asr import QwenASR
from workers.engines.base import EngineUnavailable
from workers.transcription import rejection_reason

PARSED: list[dict[str, Any]] = []
_parse = qwen_asr.parse_asr_output


def recording_parse(raw: str, user_language: str | None = None) -> tuple[str, str]:
    language, text = _parse(raw, user_language=user_language)
    PARSED.append({"raw": raw, "user_language": user_language, "language": language, "text": text})
    return language, text


qwen_asr.parse_asr_output = recording_parse


def audio_of(spec: dict[str, Any]) -> np.ndarray:
    if "speech" in spec:
        return espeak_16k(spec["speech"])
    return np.zeros(int(spec.get("silence_s", 1.0) * 16_000), np.float32)


def no_speech_slot(engine: QwenASR) -> dict[str, Any]:
    """:func:`no_speech_prob` on answers written with the model's own tokenizer, at made-up
    probabilities: ``None`` given 0.8 after ``language``."""
    import torch

    tokenizer = engine._loaded(False).processor.tokenizer
    none_id = tokenizer.encode("language None", add_special_tokens=False)[-1]
    vocab = len(tokenizer)

    def logprobs(step: int) -> torch.Tensor:
        probs = torch.full((vocab,), 0.2 / (vocab - 1))
        probs[none_id] = 0.8
        return probs.log()

    def answer(text: str) -> list[int]:
        return tokenizer.encode(text, add_special_tokens=False)

    return {name: engine_module.no_speech_prob(tokenizer, answer(text), logprobs) for name, text in {
        "none": "language None<asr_text>", "chinese": "language Chinese<asr_text>你好", "untagged": "你好"}.items()}


def run(case: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(**case.get("settings", {}))
    engine = QwenASR(settings=settings)
    if case.get("no_speech_slot"):
        return {"slot": no_speech_slot(engine)}
    PARSED.clear()
    result: dict[str, Any] = {"availability": engine.availability().as_dict()}
    audio = audio_of(case.get("audio", {"silence_s": 1.0}))
    started = time.perf_counter()
    try:
        transcript = engine.transcribe(audio, partial=bool(case.get("partial")))
    except EngineUnavailable as exc:
        return {**result, "error": {"engine": exc.engine, "reason": exc.reason, "fix": exc.fix}, "parsed": PARSED[:]}
    result["seconds"] = time.perf_counter() - started
    result["transcript"] = dataclasses.asdict(transcript)
    result["types"] = {k: type(v).__name__ for k, v in dataclasses.asdict(transcript).items()}
    result["rejection"] = rejection_reason(transcript, settings)
    result["parsed"] = PARSED[:]
    result["loaded"] = sorted({f"{type(m.model).__name__}/{type(m.processor).__name__}/{m.model.dtype}"
                               for m in engine_module._LOADED.values()})
    return result


def main() -> None:
    out = Path(sys.argv[1])
    results = [{"name": case["name"], **run(case)} for case in json.load(sys.stdin)]
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
