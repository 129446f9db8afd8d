"""Runs the ``voxcpm`` engine inside the voxcpm engine environment and writes what happened as JSON.

``python -m tests.engine_probes.voxcpm_probe contract OUT``: the package's ``VoxCPM``
signatures against the adapter's keyword arguments. ``... availability OUT``: the engine's
availability under the ``AVATAR_*`` settings. ``... synth OUT`` with a JSON list of cases on
stdin (``{"name", "text", "voice": {"audio_path", "transcript"}, "settings"}``): each case
through :class:`VoxCPMTTS` (availability, loading through the VRAM budget, the package's own
``generate``), its clip or its ``EngineUnavailable``, with what the package's
``build_prompt_cache`` received (the prompt text and audio) and the target's token count.
The tests in tests/workers/test_voxcpm_engine.py read OUT.
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
from workers.engines.tts.gpu_host import evict_idle_models, model_host
from workers.engines.tts.neural import prepared_reference
from workers.engines.tts.voxcpm import VoxCPMTTS


class RecordingVoxCPMTTS(VoxCPMTTS):
    """The engine unchanged, its loaded model's ``build_prompt_cache`` wrapped to record its
    arguments (the real method still runs)."""

    prompts: list[dict[str, Any]] = []

    def load(self) -> Any:
        model = super().load()
        real = model.tts_model.build_prompt_cache

        def recording(*args: Any, **kwargs: Any) -> Any:
            RecordingVoxCPMTTS.prompts.append({k: str(v) for k, v in kwargs.items()})
            return real(*args, **kwargs)

        model.tts_model.build_prompt_cache = recording
        return model


def contract() -> dict[str, Any]:
    from voxcpm import VoxCPM

    engine = VoxCPMTTS(settings=Settings())
    ref = VoiceReference(profile_id="p", audio_path=Path("r.wav"), transcript="你好")
    return {
        "init_params": sorted(inspect.signature(VoxCPM.__init__).parameters),
        "generate_params": sorted(inspect.signature(VoxCPM._generate).parameters),
        "load_kwargs": sorted(engine.load_kwargs()),
        "infer_kwargs": sorted(engine.infer_kwargs(object(), "你好", ref, Path("r.wav"))),
    }


def availability() -> dict[str, Any]:
    engine = VoxCPMTTS(settings=Settings())
    return {"model_path": str(engine.model_path()), "model_name": engine.model_name,
            **engine.availability().as_dict()}


def synth(case: dict[str, Any]) -> dict[str, Any]:
    settings = Settings(**case.get("settings", {}))
    engine = RecordingVoxCPMTTS(settings=settings)
    voice = VoiceReference(profile_id=case.get("profile_id", "probe"), audio_path=Path(case["voice"]["audio_path"]),
                           transcript=case["voice"].get("transcript", ""))
    RecordingVoxCPMTTS.prompts.clear()
    started = time.perf_counter()
    try:
        clip = engine.synthesize(case["text"], voice=voice, style=case.get("style"))
    except EngineUnavailable as exc:
        return {"error": {"engine": exc.engine, "reason": exc.reason, "fix": exc.fix}}
    seconds = time.perf_counter() - started
    host = model_host(settings)
    model = host.get(engine.model_name)
    reference = sf.info(prepared_reference(voice, engine.reference_sr, engine.reference_max_s))
    samples = clip.samples
    return {
        "sample_rate": clip.sample_rate, "samples": int(samples.size), "dtype": str(samples.dtype),
        "duration_s": clip.duration_s, "finite": bool(np.isfinite(samples).all()),
        "peak": float(np.abs(samples).max()), "seconds": seconds,
        "reference": {"sample_rate": reference.samplerate, "duration_s": reference.duration},
        "booked": host.loaded, "prompts": list(RecordingVoxCPMTTS.prompts),
        "target_tokens": len(model.tts_model.text_tokenizer(case["text"])),
        "patch_samples": int(model.tts_model.patch_size * model.tts_model.chunk_size),
    }


def main() -> None:
    command, out = sys.argv[1], Path(sys.argv[2])
    if command == "contract":
        result: Any = contract()
    elif command == "availability":
        result = availability()
    elif command == "synth":
        result = []
        for case in json.load(sys.stdin):
            try:
                result.append({"name": case["name"], **synth(case)})
            finally:
                # Give the VRAM booking back after each case: the host keys a model by its
                # budget name, and the next case may name another folder (VoxCPM2's).
                evict_idle_models(Settings())
    else:
        raise SystemExit(f"unknown probe command {command!r}")
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
