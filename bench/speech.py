"""Speech input: VAD cost, concurrent microphone streams, end of speech -> final transcript.

1. **VAD cost per 32 ms window** (in process): the Silero ONNX model and the turn detector
   on espeak-ng Mandarin with silences, one window at a time, as a session's frames arrive.
2. **Concurrent streams** (whole system): N python-socketio clients stream real-time-paced
   40 ms binary frames to the real API; every frame is sent with an acknowledgement, whose
   round trip shows whether the API keeps up (it must stay well under the 40 ms frame period),
   and every stream must see its utterances' ``vad_state`` events. The clients run on the
   same machine and take their share of its cores.
3. **End of speech -> final transcript** with the tiny random Whisper: client-side time from
   ``vad_state speech_end`` to ``transcription_final``, minus the model's own transcription
   time for that utterance (timed in the worker, sent as ``asr_ms``): the pipeline's overhead (Redis hand-off,
   the ``asr`` lane, storing the turn, the Socket.IO pub/sub path).
4. **Partial cadence**: the time between consecutive ``transcription_partial`` events.

Usage::

    python -m bench.speech [--utterances 40] [--streams 10,25,50] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import cpu_seconds, fmt_ms, machine_info, percentile, write_section
from tests.speech_audio import espeak_16k, mandarin_speech, with_silences

DEFAULT_OUT = Path("docs/benchmarks.md")
FRAME_MS = 40
# "Sustained", as this section defines it, checked per level: the frame acknowledgement's P95
# under the frame period, every utterance of every stream detected, and the streams keeping real
# time (wall time within 5 % of the audio's length).
MAX_SLOWDOWN = 1.05


def sustained(level: dict[str, Any]) -> tuple[bool, str]:
    """(PASS?, what failed) for one level of concurrent streams."""
    failed = []
    ack_p95 = percentile(level["rtt"], 95)
    if not ack_p95 < FRAME_MS:
        failed.append(f"ack P95 {fmt_ms(ack_p95)} ms ≥ {FRAME_MS} ms")
    if level["complete"] < level["streams"]:
        failed.append(f"{level['streams'] - level['complete']} stream(s) missed an utterance")
    if level["slowdown"] > MAX_SLOWDOWN:
        failed.append(f"wall/audio {level['slowdown']:.2f} > {MAX_SLOWDOWN:.2f}")
    return not failed, "; ".join(failed)


def vad_cost(repeats: int = 3) -> list[float]:
    """Milliseconds per 32 ms window (feed of one window) over real speech and silence."""
    from avatar.vad import WINDOW, TurnDetector

    pcm = mandarin_speech().pcm
    costs: list[float] = []
    for _ in range(repeats):
        detector = TurnDetector()
        for offset in range(0, len(pcm) - WINDOW + 1, WINDOW):
            frame = pcm[offset : offset + WINDOW]
            started = time.perf_counter()
            detector.feed(frame)
            costs.append((time.perf_counter() - started) * 1000)
    return costs


def model_time(pcm: np.ndarray, settings: Any, repeats: int = 10) -> list[float]:
    from workers.engines.registry import get_asr_engine

    engine = get_asr_engine(settings)
    audio = pcm.astype(np.float32) / 32768.0
    engine.transcribe(audio)  # load once
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        engine.transcribe(audio)
        out.append((time.perf_counter() - started) * 1000)
    return out


async def _stream(client: Any, pcm: np.ndarray, rtts: list[float] | None) -> None:
    step = 16 * FRAME_MS
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), step)):
        frame = pcm[offset : offset + step].tobytes()
        if rtts is None:
            await client.sio.emit("audio_chunk", frame)
        else:
            sent = time.perf_counter()
            await client.sio.call("audio_chunk", frame, timeout=30)
            rtts.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(max(0.0, started + (index + 1) * FRAME_MS / 1000 - time.monotonic()))


async def endpoint_runs(base_url: str, system: Any, utterance: np.ndarray, count: int) -> dict[str, list[float]]:
    from tests.system import EventClient

    gaps, model, cadence = [], [], []
    for _ in range(count):
        session = system.new_session()
        client = EventClient(base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        await _stream(client, utterance, None)
        await client.wait_for(lambda: client.named("transcription_final"), 60, "final")
        at = {name: t for t, name, _ in reversed(client.events)}
        ends = [t for t, name, d in client.events if name == "vad_state" and d["state"] == "speech_end"]
        gaps.append((at["transcription_final"] - ends[0]) * 1000)
        model.append(client.named("transcription_final")[0]["asr_ms"])
        partial_times = [t for t, name, _ in client.events if name == "transcription_partial"]
        cadence += [(b - a) * 1000 for a, b in zip(partial_times, partial_times[1:])]
        await client.disconnect()
    return {"gap": gaps, "model": model, "cadence": cadence}


async def concurrency_level(base_url: str, system: Any, pcm: np.ndarray, streams: int, utterances: int) -> dict[str, Any]:
    from tests.system import EventClient

    clients = []
    for _ in range(streams):
        session = system.new_session()
        client = EventClient(base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        clients.append(client)
    rtts: list[float] = []
    api_pid = system.procs["api"].pid
    cpu_before = cpu_seconds(api_pid)
    started = time.monotonic()
    await asyncio.gather(*(_stream(c, pcm, rtts) for c in clients))
    wall = time.monotonic() - started
    api_cpu = cpu_seconds(api_pid) - cpu_before
    await asyncio.sleep(1.0)  # the last speech_end events
    complete = sum(
        1 for c in clients
        if [d["state"] for d in c.named("vad_state")].count("speech_end") == utterances
    )
    for c in clients:
        await c.disconnect()
    audio_s = len(pcm) / 16_000
    # The API's CPU per stream per second of audio: how many real-time streams one core holds.
    per_stream = api_cpu / (streams * audio_s)
    return {"streams": streams, "rtt": rtts, "complete": complete, "slowdown": wall / audio_s,
            "api_cpu_share": per_stream, "streams_per_core": 1.0 / per_stream if per_stream else float("inf")}


def render(machine: dict[str, str], vad: list[float], model: list[float], endpoint: dict[str, list[float]],
           levels: list[dict[str, Any]], command: str, utterances: int, partial_interval_ms: int,
           asr_concurrency: int) -> str:
    def p(values: list[float], q: float) -> str:
        return fmt_ms(percentile(values, q))

    overhead = [g - m for g, m in zip(endpoint["gap"], endpoint["model"])]
    lines = [
        "<!-- bench:speech:start -->",
        "## Speech input: VAD, concurrent streams, end of speech → final transcript",
        "",
        f"Command: `{command}` ({utterances} utterances one after another, then the streams as listed; "
        f"`asr` lane with {asr_concurrency} worker processes, so a final never waits behind a running partial). "
        f"Machine: {machine.get('CPU', '')}, {machine.get('Cores', '')} cores, {machine.get('RAM', '')}; "
        f"{machine.get('Date', '')}; load average at start {machine.get('Load average at start (1/5/15 min)', 'n/a')}.",
        "",
        "| measure | median | P95 | target |",
        "| --- | --- | --- | --- |",
        f"| VAD per 32 ms window and session (Silero ONNX + turn detector) | {p(vad, 50)} ms | {p(vad, 95)} ms | ≤ 1 ms |",
        f"| end of speech → `transcription_final` (client side, tiny Whisper) | {p(endpoint['gap'], 50)} ms | {p(endpoint['gap'], 95)} ms | |",
        f"| of which the tiny model's own transcription (timed in the worker, per utterance) | "
        f"{p(endpoint['model'], 50)} ms | {p(endpoint['model'], 95)} ms | |",
        f"| the same model on the same utterance in this process, for reference | {p(model, 50)} ms | {p(model, 95)} ms | |",
        f"| **pipeline overhead** beyond the model | {p(overhead, 50)} ms | {p(overhead, 95)} ms | P95 ≤ 50 ms |",
        f"| partial cadence (time between `transcription_partial` events, one pass every {partial_interval_ms} ms; a pass whose text is unchanged sends nothing) | "
        f"{p(endpoint['cadence'], 50)} ms | {p(endpoint['cadence'], 95)} ms | |",
        "",
        "Concurrent real-time streams (each a 40 ms frame every 40 ms, acknowledged; an utterance "
        "every few seconds; clients, API and workers all on this machine):",
        "",
        "| streams | sustained? | frame acks | frame ack round trip median | P95 | streams with every utterance detected | stream wall time / audio time | API CPU per stream (share of a core) | real-time streams one API core holds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for level in levels:
        ok, why = sustained(level)
        verdict = "**PASS**" if ok else f"**FAIL** ({why})"
        lines.append(
            f"| {level['streams']} | {verdict} | {len(level['rtt'])} | {p(level['rtt'], 50)} ms | {p(level['rtt'], 95)} ms | "
            f"{level['complete']}/{level['streams']} | {level['slowdown']:.2f} | "
            f"{level['api_cpu_share'] * 100:.2f} % | {level['streams_per_core']:.0f} |"
        )
    per_core = 32.0 / max(1e-6, percentile(vad, 95))
    lines += [
        "",
        f"At the P95 VAD cost one core analyses about {per_core:.0f} real-time streams; the API runs the VAD "
        "inline on its event loop (one process, one core), next to Socket.IO's own per-frame work. "
        f"*Sustained* (judged per level, the definition fixed before the run): the frame acknowledgement's "
        f"P95 under the {FRAME_MS} ms frame period, every utterance of every stream detected, and wall time "
        f"within {(MAX_SLOWDOWN - 1) * 100:.0f} % of the audio's length. On this shared 2-core machine the python-socketio clients, "
        "the API and the workers compete for the same cores, so the wall-time column shows the whole machine "
        "saturating; the API's own CPU per stream (measured from /proc) is the capacity figure: "
        "two API processes (websocket-only transport needs no sticky sessions) would hold about twice the last column on 2 cores.",
        "<!-- bench:speech:end -->",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--streams", default="10,25,50")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    from avatar.settings import Settings
    from tests.conftest import make_system
    from models.tiny import make_tiny_models

    machine = machine_info()
    print("VAD cost ...", flush=True)
    vad = vad_cost()
    root = Path(tempfile.mkdtemp(prefix="avatar-bench-speech-"))
    system = None
    try:
        models_dir = root / "models"
        make_tiny_models(models_dir, which=["asr"])
        utterance = with_silences([espeak_16k("今天天氣很好，我們去公園散步吧")], [1.0], lead_s=0.3).pcm
        model = model_time(utterance, Settings(profile="tiny", models_dir=models_dir))
        system = make_system(root, "speech_bench", models_dir, AVATAR_LLM_ENGINE="benchmark",
                             AVATAR_TTS_FAST_ENGINE="benchmark", AVATAR_AUDIO_MAX_FRAMES_PER_S="100")
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast")
        system.start_worker("asr")
        system.wait_for_lanes("llm", "tts_fast", "asr")
        print("end of speech -> final ...", flush=True)
        endpoint = asyncio.run(endpoint_runs(system.base_url, system, utterance, args.utterances))
        stream_audio = mandarin_speech(("今天天氣很好", "請問捷運的末班車是幾點"), silence_s=1.0)
        levels = []
        for count in [int(x) for x in args.streams.split(",") if x]:
            print(f"{count} concurrent streams ...", flush=True)
            levels.append(asyncio.run(concurrency_level(
                system.base_url, system, stream_audio.pcm, count, len(stream_audio.truth_ms))))
        interval = Settings().partial_interval_ms
        asr_concurrency = Settings().asr_concurrency
    finally:
        if system is not None:
            system.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    command = "python -m bench.speech " + " ".join(argv or [])
    section = render(machine, vad, model, endpoint, levels, command.strip(), args.utterances, interval,
                     asr_concurrency)
    write_section(args.out, section, name="speech")
    print(section)


if __name__ == "__main__":
    main()
