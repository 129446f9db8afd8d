"""CosyVoice's speed, run by ``bench.engines`` inside the ``cosyvoice`` engine environment: the
``cosyvoice`` engine itself, streaming (``stream=True``, :meth:`CosyVoiceTTS.stream`), on the
real-size random CosyVoice2-0.5B (``avatar models random``) after one reference clip (espeak-ng
Mandarin, ~6 s, as the F5 part's). The text is a reply of 50 characters; the engine speaks it
clause by clause, as it would a reply, and the random model's folder fixes each clause's speech
at what a real model makes of it (25 speech tokens a second, RandomWeights).

Per run: seconds to the first audio chunk, seconds to the last, seconds of audio, and their
ratio (the real-time factor). Prints a JSON line of every run so far after each one, so a run
cut short by its time budget keeps those it finished.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.settings import Settings
from bench.f5_speed import reference_voice
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.cosyvoice import CosyVoiceTTS

TEXT = "今天台北天氣晴朗，氣溫大約二十五度，下午可能有短暫陣雨，出門記得帶把傘，晚上也別忘了多穿一件外套喔。"
MARK = '{"cosyvoice"'  # the start of each result line


def one_run(engine: CosyVoiceTTS, voice: VoiceReference, text: str = TEXT) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    audio_s = 0.0
    for clip in engine.stream(text, voice=voice):
        first = first or time.perf_counter() - started
        audio_s += clip.duration_s
    seconds = time.perf_counter() - started
    return {"first_chunk_s": first or seconds, "seconds": seconds, "audio_s": audio_s, "rtf": seconds / audio_s}


def measure(model: Path, runs: int, voice: VoiceReference, device: str = "cpu",
            emit: Callable[[dict[str, Any]], None] = lambda _: None) -> dict[str, Any]:
    """``runs`` streamed syntheses of TEXT after a warm-up; ``emit`` gets the runs so far after each."""
    engine = CosyVoiceTTS(settings=Settings(cosyvoice_model_dir=str(model), tts_device=device))
    started = time.perf_counter()
    engine.synthesize("你好。", voice=voice)  # load and warm up
    out: dict[str, Any] = {"text_chars": len(TEXT), "load_and_warm_up_s": time.perf_counter() - started, "runs": []}
    for _ in range(runs):
        out["runs"].append(one_run(engine, voice))
        emit(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True, help="a CosyVoice 2 folder (the random cosyvoice2-0.5b)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure(args.model, args.runs, reference_voice(Path(tmp)),
                emit=lambda out: print(json.dumps({"cosyvoice": out}), flush=True))


if __name__ == "__main__":
    main()
