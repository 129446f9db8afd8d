"""Runs the ``f5`` engine inside the f5 engine environment and writes what happened as JSON.

``python -m tests.engine_probes.f5_probe contract OUT`` : the F5TTS signature against the
adapter's keyword arguments. ``python -m tests.engine_probes.f5_probe synth OUT`` with a JSON
list of cases on stdin (``{"name", "text", "voice": {"audio_path", "transcript"}, "settings"}``):
each case through :class:`F5TTSEngine` (availability, loading through the VRAM budget, F5's own
``infer``), its clip or its ``EngineUnavailable``. Settings also come from the ``AVATAR_*``
environment (models dir, Redis). The tests in tests/workers/test_f5_engine.py read OUT.
"""

from __future__ import annotations

import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from avatar.settings import Settings
from workers.engines.base import EngineUnavailable
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.f5 import F5TTSEngine
from workers.engines.tts.gpu_host import evict_idle_models
from workers.engines.tts.neural import prepared_reference


def contract() -> dict[str, Any]:
    import f5_tts.api
    from f5_tts.api import F5TTS

    engine = F5TTSEngine(settings=Settings())
    ref = VoiceReference(profile_id="p", audio_path=Path("r.wav"), transcript="你好")
    return {
        "f5_tts_file": f5_tts.api.__file__,  # f5_tts itself is a namespace package
        "init_params": sorted(inspect.signature(F5TTS.__init__).parameters),
        "infer_params": sorted(inspect.signature(F5TTS.infer).parameters),
        "load_kwargs": sorted(engine.load_kwargs()),
        "infer_kwargs": sorted(engine.infer_kwargs("你好", ref, Path("r.wav"), None)),
    }


def synth(case: dict[str, Any]) -> dict[str, Any]:
    engine = F5TTSEngine(settings=Settings(**case.get("settings", {})))
    voice = VoiceReference(profile_id=case.get("profile_id", "probe"), audio_path=Path(case["voice"]["audio_path"]),
                           transcript=case["voice"].get("transcript", ""))
    started = time.perf_counter()
    try:
        clip = engine.synthesize(case["text"], voice=voice, style=case.get("style"))
    except EngineUnavailable as exc:
        return {"error": {"engine": exc.engine, "reason": exc.reason, "fix": exc.fix}}
    seconds = time.perf_counter() - started
    reference = sf.info(prepared_reference(voice, engine.reference_sr, engine.reference_max_s))
    samples = clip.samples
    return {
        "sample_rate": clip.sample_rate, "samples": int(samples.size), "dtype": str(samples.dtype),
        "duration_s": clip.duration_s, "finite": bool(np.isfinite(samples).all()),
        "peak": float(np.abs(samples).max()), "seconds": seconds,
        "reference": {"sample_rate": reference.samplerate, "duration_s": reference.duration},
    }


def main() -> None:
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "contract":
        result: Any = contract()
    elif command == "synth":
        try:
            result = [{"name": case["name"], **synth(case)} for case in json.load(sys.stdin)]
        finally:
            evict_idle_models(Settings())  # give the VRAM booking back: this process ends here
    else:
        raise SystemExit(f"unknown probe command {command!r}")
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
