"""Runs the ``cosyvoice`` engine inside the cosyvoice engine environment and writes what
happened as JSON (read by tests/workers/test_cosyvoice_engine.py and test_neural_tts.py).

``python -m tests.engine_probes.cosyvoice_probe contract OUT``: the installed package's
classes and generator signatures, and the adapter's arguments for each generator.

``python -m tests.engine_probes.cosyvoice_probe synth OUT`` with a JSON list of cases on stdin
(``{"name", "text", "style", "voice": {"audio_path", "transcript"}, "settings"}``): each case
through :meth:`CosyVoiceTTS.synthesize` (availability, loading through the VRAM budget in
Redis, the package's own ``CosyVoice2`` and generators), its clip or its ``EngineUnavailable``,
and what reached the package: the generator the adapter called on the real model object, and
the prompt/instruction text the package's own front end then received. The recording wraps
the real object's methods and passes every call through. Settings also come from the
``AVATAR_*`` environment (models dir, Redis).
"""

from __future__ import annotations

import functools
import inspect
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from avatar.settings import Settings
from workers.engines.base import EngineUnavailable
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.cosyvoice import CosyVoiceTTS
from workers.engines.tts.gpu_host import evict_idle_models

GENERATORS = ("inference_zero_shot", "inference_instruct2")
FRONT_ENDS = {"frontend_zero_shot": "prompt_text", "frontend_instruct2": "instruct_text"}


def contract() -> dict[str, Any]:
    import cosyvoice
    from cosyvoice.cli import cosyvoice as package

    bare = package.CosyVoice2.__new__(package.CosyVoice2)  # the real class, no weights loaded
    engine = CosyVoiceTTS(settings=Settings())
    voice = VoiceReference(profile_id="p", audio_path=Path("r.wav"), transcript="你好")
    calls = {}
    for style in (None, "happy"):
        method, kwargs = engine.calls(bare, "今天天氣很好。", voice, Path("r.wav"), style)
        calls[method] = sorted(kwargs)
    return {
        "cosyvoice_file": cosyvoice.__file__,
        "classes": sorted(n for n in ("CosyVoice", "CosyVoice2", "CosyVoice3", "AutoModel") if hasattr(package, n)),
        "params": {m: sorted(inspect.signature(getattr(package.CosyVoice2, m)).parameters) for m in GENERATORS},
        "adapter_kwargs": calls,
    }


class RecordingCosyVoiceTTS(CosyVoiceTTS):
    """The adapter as it is, whose loaded model (the package's real object) records what
    reaches it; every call goes through unchanged."""

    recorded: list[dict[str, Any]] = []

    def load(self) -> Any:
        model = super().load()
        for name in GENERATORS:
            self._record(model, name, lambda kw: {k: _describe(v) for k, v in kw.items()})
        for name, field in FRONT_ENDS.items():
            self._record(model.frontend, name, lambda kw, field=field: {field: kw.get(field)})
        return model

    def _record(self, obj: Any, name: str, summary: Any) -> None:
        original = getattr(obj, name)
        signature = inspect.signature(original)

        @functools.wraps(original)
        def recorded(*args: Any, **kwargs: Any) -> Any:
            bound = signature.bind(*args, **kwargs).arguments
            self.recorded.append({"method": name, **summary(bound)})
            return original(*args, **kwargs)

        setattr(obj, name, recorded)


def _describe(value: Any) -> Any:
    if hasattr(value, "shape"):
        return {"tensor": list(value.shape)}
    return value if isinstance(value, (str, int, float, bool, type(None))) else repr(value)


def synth(case: dict[str, Any]) -> dict[str, Any]:
    engine = RecordingCosyVoiceTTS(settings=Settings(**case.get("settings", {})))
    RecordingCosyVoiceTTS.recorded = []
    voice = VoiceReference(profile_id=case.get("profile_id", "probe"), audio_path=Path(case["voice"]["audio_path"]),
                           transcript=case["voice"].get("transcript", ""))
    started = time.perf_counter()
    try:
        clip = engine.synthesize(case["text"], voice=voice, style=case.get("style"))
    except EngineUnavailable as exc:
        return {"error": {"engine": exc.engine, "reason": exc.reason, "fix": exc.fix},
                "calls": RecordingCosyVoiceTTS.recorded}
    samples = clip.samples
    return {
        "sample_rate": clip.sample_rate, "samples": int(samples.size), "dtype": str(samples.dtype),
        "duration_s": clip.duration_s, "finite": bool(np.isfinite(samples).all()),
        "peak": float(np.abs(samples).max()), "seconds": time.perf_counter() - started,
        "calls": RecordingCosyVoiceTTS.recorded,
    }


def main() -> None:
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "contract":
        result: Any = contract()
    elif command == "synth":
        result, previous = [], None
        try:
            for case in json.load(sys.stdin):
                if case.get("settings") != previous:  # another model folder: load it afresh
                    evict_idle_models(Settings(**(previous or {})))
                    previous = case.get("settings")
                result.append({"name": case["name"], **synth(case)})
        finally:
            evict_idle_models(Settings(**(previous or {})))  # this process ends: give the booking back
    else:
        raise SystemExit(f"unknown probe command {command!r}")
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
