"""Prosody lane speed: analysis time per 10 s of audio on one core, and end of utterance
-> ``prosody_analysis`` event at a Socket.IO client through a real prosody worker.

    python -m bench.prosody [--repeats 20] [--utterances 20] [--out docs/benchmarks.md]

Speech is espeak-ng Mandarin (real audio, generated here). The first part runs in this
process pinned to one CPU core with one BLAS/OpenMP thread; the second starts the real API
and one prosody worker process (Redis database 3, flushed), stores each utterance and its
transcription the way the speech-input lane does, enqueues it with ``enqueue_prosody`` and
times until the event reaches the client.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core means one thread, before numpy loads

import argparse
import asyncio
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import machine_info, percentile, write_section

TARGET_ANALYSIS_S_PER_10S = 0.5
TARGET_EVENT_S = 1.5
SENTENCES = [
    "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。",
    "我下午想去公園散步，順便買一杯咖啡，晚上再回家煮飯。",
    "這個週末我們一起去看電影，看完以後再去夜市吃東西，好不好？",
    "明天早上八點，我要搭高鐵去台中開會，中午以前就會回來。",
]


def _ten_seconds() -> tuple[np.ndarray, str]:
    from tests.workers.prosody.speech import RATE, espeak_speech

    parts, text = [], ""
    for sentence in SENTENCES * 3:
        parts.append(espeak_speech(sentence).samples)
        text += sentence
        if sum(p.size for p in parts) >= 10 * RATE:
            break
    return np.concatenate(parts)[: 10 * RATE], text


def measure_analysis(repeats: int) -> dict[str, Any]:
    from tests.workers.prosody.speech import RATE
    from workers.prosody import analyze
    from workers.prosody.features import egemaps_features, praat_features, warm_up

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    x, text = _ten_seconds()
    warm_up()
    total, cpu, praat, egemaps = [], [], [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        report = analyze(x, RATE, text)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert report.quality.ok, report.quality.as_dict()
        t0 = time.perf_counter()
        praat_features(x, text)
        praat.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        egemaps_features(x)
        egemaps.append(time.perf_counter() - t0)
    return {"audio_s": x.size / RATE, "total": total, "cpu": cpu, "praat": praat, "egemaps": egemaps}


def measure_events(utterances: int, log: Any = print) -> list[float]:
    from tests.conftest import make_system
    from tests.system import EventClient

    root = Path(tempfile.mkdtemp(prefix="avatar-bench-prosody-"))
    system = make_system(root, "prosody", root / "models")
    try:
        system.start_api()
        system.start_worker("prosody", concurrency=1)
        system.wait_for_lanes("prosody")
        # This process now plays the speech-input lane: same Redis, database and storage.
        os.environ.update(system.env)
        from avatar.settings import get_settings

        get_settings.cache_clear()
        from avatar.jobs import ProsodyJob
        from avatar.services import Services
        from tests.api.speech_turns import store_utterance
        from tests.workers.prosody.speech import RATE, espeak_speech
        from avatar.audio import encode_wav

        dispatcher = Services.build(get_settings()).dispatcher
        wavs = []
        for i, sentence in enumerate(SENTENCES):
            path = root / f"{i}.wav"
            path.write_bytes(encode_wav(espeak_speech(sentence).samples, RATE))
            wavs.append((path, sentence))
        session = system.new_session()

        async def run() -> list[float]:
            client = EventClient(system.base_url)
            arrived: dict[str, float] = {}

            @client.sio.on("prosody_analysis")
            async def _on(data: dict[str, Any]) -> None:
                arrived[data["transcription_id"]] = time.time()

            await client.connect({"session_id": session["session_id"], "token": session["token"]})
            latencies = []
            for n in range(utterances + 1):  # the first one warms the worker up, not counted
                path, sentence = wavs[n % len(wavs)]
                ids = await asyncio.to_thread(store_utterance, session["session_id"], path, sentence, False)
                ended = time.time()  # the speech-input lane enqueues as the utterance ends
                dispatcher.prosody(ProsodyJob(
                    session_id=session["session_id"], turn_id=ids["turn_id"],
                    transcription_id=ids["transcription_id"], trace_id=ids["trace_id"],
                    audio_key=ids["audio_key"], transcript=sentence, speech_ended_at=ended,
                ))
                await client.wait_for(lambda: ids["transcription_id"] in arrived, 60, "the event")
                if n:
                    latencies.append(arrived[ids["transcription_id"]] - ended)
            await client.disconnect()
            return latencies

        return asyncio.run(run())
    finally:
        system.stop_all()
        shutil.rmtree(root, ignore_errors=True)


def _row(name: str, values: Sequence[float], target: float | None, scale: float = 1.0) -> str:
    med, p95 = percentile(values, 50) * scale, percentile(values, 95) * scale
    verdict = "" if target is None else ("meets" if p95 <= target else "misses")
    return f"| {name} | {len(values)} | {med:.3f} | {p95:.3f} | {'' if target is None else f'<= {target}'} {verdict} |"


def render(machine: dict[str, str], analysis: dict[str, Any], events: list[float], command: str) -> str:
    per10 = 10.0 / analysis["audio_s"]
    lines = [
        "<!-- bench:prosody:start -->",
        "## Prosody analysis speed",
        "",
        f"Written by `{command}` (`bench/prosody.py`). A short run: the figures are medians and",
        "P95 over the repeats below, on a machine shared with other work (see the load average).",
        "",
        "| machine | |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine.items()],
        "",
        "**Analysis time per 10 s of audio, one core** (espeak-ng Mandarin, 10 s, with transcript;",
        "one process pinned to one core, one BLAS/OpenMP thread, after a warm-up). The whole",
        "analysis is the quality gate + Praat features + all 88 eGeMAPS functionals + scores.",
        "The target is judged on the CPU time the analysis process used (what it costs on one",
        "core); the wall-clock time beside it also contains waiting for the core, which other",
        "work on this shared machine held part of the time (see the load average).",
        "",
        "| part | runs | median (s) | P95 (s) | target |", "| --- | --- | --- | --- | --- |",
        _row("whole analysis, CPU time", analysis["cpu"], TARGET_ANALYSIS_S_PER_10S, per10),
        _row("whole analysis, wall clock", analysis["total"], None, per10),
        _row("of which Praat (parselmouth), wall clock", analysis["praat"], None, per10),
        _row("of which openSMILE eGeMAPSv02, wall clock", analysis["egemaps"], None, per10),
        "",
        "**End of utterance → `prosody_analysis` event at the client** through the real API and",
        "one real prosody worker process (prefork), Redis pub/sub and a Socket.IO client over a",
        "websocket: from the moment the job is enqueued (the speech-input lane enqueues it as the",
        "utterance ends, after storing the WAV and the transcription) to the event's arrival.",
        "Utterances of 3-5 s, one at a time, after one warm-up utterance. The speech-input",
        "lane's own time before it enqueues (end-of-speech detection, ASR) is not included here;",
        "the event's `latency_ms` counts from the end of speech and so does include it.",
        "Targets are judged on the P95.",
        "",
        "| measure | utterances | median (s) | P95 (s) | target |", "| --- | --- | --- | --- | --- |",
        _row("end of utterance → event", events, TARGET_EVENT_S),
        "<!-- bench:prosody:end -->",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.prosody", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--utterances", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    machine = machine_info()
    events = measure_events(args.utterances)  # first: the pinning below is for this process
    analysis = measure_analysis(args.repeats)
    command = f"python -m bench.prosody --repeats {args.repeats} --utterances {args.utterances}"
    write_section(args.out, render(machine, analysis, events, command), name="prosody")
    per10 = 10.0 / analysis["audio_s"]
    print(f"analysis per 10 s, CPU time: median {percentile(analysis['cpu'], 50) * per10:.3f} s, "
          f"P95 {percentile(analysis['cpu'], 95) * per10:.3f} s (target {TARGET_ANALYSIS_S_PER_10S} s); "
          f"wall clock: median {percentile(analysis['total'], 50) * per10:.3f} s")
    print(f"end of utterance -> event: median {percentile(events, 50):.3f} s, "
          f"P95 {percentile(events, 95):.3f} s (target {TARGET_EVENT_S} s); wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
