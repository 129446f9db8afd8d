"""F5-TTS's real-time factor at several NFE step counts, run by ``bench.engines`` inside the
``f5`` engine environment: the ``f5`` engine itself on the real-size random F5-TTS v1 Base
(``avatar models random``), one reference clip (espeak-ng Mandarin, ~6 s) and one sentence.
F5 sizes its output from the reference's duration and the two texts' lengths, so the audio's
length, and with it the cost, does not depend on the weights. Prints a JSON line of the results
so far after each step count."""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.settings import Settings
from bench.report import percentile
from workers.engines.tts.base import VoiceReference
from workers.engines.tts.f5 import F5TTSEngine

REFERENCE_TEXT = "這是一段用來測試聲音複製的參考錄音，我平常說話就是這個樣子。"
SENTENCE = "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。"


def reference_voice(folder: Path) -> VoiceReference:
    """The benchmark's reference clip (espeak-ng Mandarin, ~6 s), written into ``folder``."""
    reference = Path(folder) / "ref.wav"
    subprocess.run(["espeak-ng", "-v", "cmn+f2", "-w", str(reference), REFERENCE_TEXT], check=True)
    return VoiceReference(profile_id="bench", audio_path=reference, transcript=REFERENCE_TEXT)


def time_sentence(engine: Any, voice: VoiceReference, runs: int) -> dict[str, float]:
    """``runs`` syntheses of SENTENCE by a warmed-up TTS engine: seconds and real-time factor."""
    seconds, rtf = [], []
    for _ in range(runs):
        started = time.perf_counter()
        clip = engine.synthesize(SENTENCE, voice=voice)
        seconds.append(time.perf_counter() - started)
        rtf.append(seconds[-1] / clip.duration_s)
    return {"n": runs, "seconds": percentile(seconds, 50), "audio_s": clip.duration_s,
            "rtf_median": percentile(rtf, 50), "rtf_p95": percentile(rtf, 95)}


def measure(models: Path, nfe_steps: list[int], runs: int, voice: VoiceReference, device: str = "cpu",
            emit: Callable[[dict[str, dict[str, float]]], None] = lambda _: None) -> dict[str, dict[str, float]]:
    """Real-time factor per step count; ``emit`` gets the results so far after each one."""
    out: dict[str, dict[str, float]] = {}
    for nfe in nfe_steps:
        settings = Settings(tts_device=device, f5_nfe_steps=nfe, f5_ckpt_file=str(models / "f5-tts" / "model.safetensors"),
                            f5_vocab_file=str(models / "f5-tts" / "vocab.txt"),
                            f5_vocoder_dir=str(models / "vocos-mel-24khz"))
        engine = F5TTSEngine(settings=settings)
        if nfe == nfe_steps[0]:
            engine.synthesize("你好。", voice=voice)  # load and warm up once
        out[str(nfe)] = time_sentence(engine, voice, runs)
        emit(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", type=Path, required=True, help="the random f5-tts-v1-base folder")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--nfe", type=int, action="append", required=True)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # after each step count: a cut-short run keeps these
        measure(args.models, args.nfe, args.runs, reference_voice(Path(tmp)),
                emit=lambda out: print(json.dumps({"nfe": out}), flush=True))


if __name__ == "__main__":
    main()
