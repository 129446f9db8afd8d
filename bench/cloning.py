"""Voice cloning figures: the ``lite`` engine's speed on one core, its speaker similarity
against plain espeak-ng, a turn's time to first audio in a cloned voice, and the same while
a batch re-synthesis runs; F5-TTS / CosyVoice published figures (no GPU here).

Usage::

    python -m bench.cloning [--runs 10] [--turns 5] [--out docs/benchmarks.md]

Writes the ``bench:cloning`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from bench.report import machine_info, percentile, write_section

TEXT_50 = "今天台北天氣晴朗，氣溫大約二十五度，很適合出門走走。我們可以一起去公園散步，再找一家咖啡店坐坐，聊聊"
REPLY = "好的，我來說明。今天台北天氣晴朗，氣溫大約二十五度。很適合出門走走，也可以去公園散步。"
PUBLISHED = [
    ("F5-TTS (fast tier)", "RTF 0.15 at NFE 16 (paper); ~0.03 at NFE 7 on an RTX 3090; ~1.6 GB VRAM",
     "Seed-TTS test-zh CER 1.52 %, speaker similarity 0.741"),
    ("CosyVoice 2 (HQ tier)", "streaming first chunk ~0.7 s on datacenter GPUs; RTF ~0.1",
     "Seed-TTS test-zh CER 1.45 %, speaker similarity 0.757"),
    ("CosyVoice 3-0.5B (HQ tier)", "as CosyVoice 2", "Seed-TTS test-zh CER 1.21 %, speaker similarity 0.780"),
]


def _references(folder: Path) -> dict[str, Path]:
    from tests.voices import espeak_reference, f5_references

    refs = {
        "espeak-ng m3, low pitch": espeak_reference(folder / "a.wav", variant="m3", pitch=15),
        "espeak-ng f4, high pitch": espeak_reference(folder / "b.wav", variant="f4", pitch=85),
        "espeak-ng f2, mid pitch": espeak_reference(folder / "c.wav", variant="f2", pitch=55),
    }
    f5, _why = f5_references()
    return {**refs, **{f"f5-tts wheel {k[3:]} (real speech)": v for k, v in f5.items()}}


def measure_engine(runs: int, folder: Path) -> dict[str, Any]:
    from avatar.settings import Settings
    from workers.engines.tts.base import VoiceReference
    from workers.engines.tts.lite import LiteCloneTTS, espeak, fit_adaptation
    from workers.voice_analysis import speaker_embedding, speaker_similarity

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    engine = LiteCloneTTS(settings=Settings(profile="cpu"))
    refs = _references(folder)
    similarity: list[tuple[str, float, float]] = []
    voices = {}
    for name, path in refs.items():
        samples, sr = sf.read(path, dtype="float32")
        voice = VoiceReference(profile_id=name, audio_path=path,
                               adaptation={"lite": fit_adaptation(samples, sr).as_dict()})
        voices[name] = voice
        ref = speaker_embedding(samples, sr)
        clip = engine.synthesize(REPLY, voice=voice)
        lite = speaker_similarity(speaker_embedding(clip.samples, clip.sample_rate), ref)
        plain = speaker_similarity(speaker_embedding(espeak(REPLY), 22_050), ref)
        similarity.append((name, plain, lite))
    voice = next(iter(voices.values()))
    engine.synthesize(TEXT_50, voice=voice)  # warm
    seconds, rtf = [], []
    for _ in range(runs):
        started = time.perf_counter()
        clip = engine.synthesize(TEXT_50, voice=voice)
        elapsed = time.perf_counter() - started
        seconds.append(elapsed)
        rtf.append(elapsed / clip.duration_s)
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return {"seconds": seconds, "rtf": rtf, "similarity": similarity, "chars": len(TEXT_50)}


async def _turn(base: str, session: dict[str, Any], text: str) -> float:
    from tests.system import EventClient

    client = EventClient(base)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    try:
        voice = session.get("voice")
        await client.sio.call("set_tts_mode", {"mode": "fast", "voice_profile_id": voice}, timeout=10)
        started = time.monotonic()
        await client.sio.call("user_message", {"text": text}, timeout=10)
        await client.wait_for(lambda: [d for d in client.named("audio_chunk") if d["seq"] == 0], 120, "first audio")
        first = next(t for t, n, d in client.events if n == "audio_chunk" and d["seq"] == 0) - started
        await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the turn")
        return first * 1000.0
    finally:
        await client.disconnect()


def measure_system(turns: int, folder: Path) -> dict[str, Any]:
    from tests.conftest import make_system

    system = make_system(folder, "cloning", folder / "models", AVATAR_LLM_ENGINE="benchmark",
                         AVATAR_BENCH_REPLY=REPLY, AVATAR_TTS_FAST_ENGINE="lite", AVATAR_TTS_HQ_ENGINE="lite_hq")
    try:
        system.start_api()
        for lane in ("llm", "tts_fast", "tts_hq", "batch", "prosody"):  # prosody: the voice's analysis
            system.start_worker(lane)
        system.wait_for_lanes("llm", "tts_fast", "tts_hq", "batch", "prosody", timeout=180)
        ref = _references(folder / "refs")["espeak-ng f2, mid pitch"].read_bytes()
        profile = httpx.post(f"{system.base_url}/api/v1/voice-profiles", files={"file": ("r.wav", ref)},
                             data={"name": "bench"}, headers=system.auth, timeout=180).json()
        voice = profile["profile_id"]
        while profile["status"] == "processing":  # the upload answers before the analysis ends
            time.sleep(0.5)
            profile = httpx.get(f"{system.base_url}/api/v1/voice-profiles/{voice}", headers=system.auth, timeout=10).json()
        if profile["status"] != "ready":
            raise RuntimeError(f"the benchmark voice was not analysed: {profile['error']}")

        def session() -> dict[str, Any]:
            return {**system.new_session(), "voice": voice}

        history = session()
        idle = [asyncio.run(_turn(system.base_url, history, f"第{i}個問題")) for i in range(turns)]
        job = httpx.post(f"{system.base_url}/api/v1/resynthesis",
                         json={"session_id": history["session_id"], "mode": "hq", "voice_profile_id": voice},
                         headers=system.auth, timeout=10).json()
        live = session()
        during, overlapping = [], 0
        for i in range(turns):
            during.append(asyncio.run(_turn(system.base_url, live, f"第{i}個問題")))
            state = httpx.get(f"{system.base_url}{job['status_url']}", headers=system.auth, timeout=10).json()
            overlapping += state["status"] != "completed"
        while httpx.get(f"{system.base_url}{job['status_url']}", headers=system.auth, timeout=10).json()["status"] != "completed":
            time.sleep(0.5)
        return {"idle": idle, "during": during, "overlapping": overlapping, "resynth_turns": job["total"]}
    finally:
        system.stop_all()


def render(engine: dict[str, Any], system: dict[str, Any] | None, machine: dict[str, str], args: Any) -> str:
    start, end = "<!-- bench:cloning:start -->", "<!-- bench:cloning:end -->"
    s, r = engine["seconds"], engine["rtf"]
    lines = [start, "## Voice cloning (`python -m bench.cloning`)", "",
             f"Machine: {', '.join(f'{k} {v}' for k, v in machine.items())}. A short run "
             f"({args.runs} syntheses, {args.turns} turns per condition) on a machine shared with other work.", "",
             f"### `lite` engine, one core, {engine['chars']} characters (cloned voice)", "",
             "| measure | median | P95 | target |", "| --- | ---: | ---: | --- |",
             f"| seconds to synthesise | {statistics.median(s):.3f} | {percentile(s, 95):.3f} | <= 0.5 s "
             f"({'met' if statistics.median(s) <= 0.5 else 'not met'}) |",
             f"| real-time factor | {statistics.median(r):.3f} | {percentile(r, 95):.3f} | |", "",
             "### Speaker similarity to the reference (resemblyzer cosine)", "",
             "| reference | plain espeak-ng | lite | gain |", "| --- | ---: | ---: | ---: |"]
    for name, plain, lite in engine["similarity"]:
        lines.append(f"| {name} | {plain:.3f} | {lite:.3f} | {lite - plain:+.3f} |")
    plain_mean = float(np.mean([p for _, p, _ in engine["similarity"]]))
    lite_mean = float(np.mean([x for _, _, x in engine["similarity"]]))
    lines += [f"| **mean** | **{plain_mean:.3f}** | **{lite_mean:.3f}** | **{lite_mean - plain_mean:+.3f}** |", "",
              "The espeak-ng references flatter `lite` (it picks among espeak-ng's own variants); the "
              "real recordings (f5-tts wheel, when it could be fetched) are the honest measure. "
              "The reply sentence differs from the reference's text in every case.", ""]
    if system:
        i, d = system["idle"], system["during"]
        lines += ["### Time to first audio of a turn (cloned `lite` voice, real API and workers, benchmark LLM)", "",
                  "| condition | turns | median ms | P95 ms |", "| --- | ---: | ---: | ---: |",
                  f"| idle system | {len(i)} | {statistics.median(i):.0f} | {percentile(i, 95):.0f} |",
                  f"| while `batch` re-synthesises {system['resynth_turns']} turns in HQ | {len(d)} "
                  f"({system['overlapping']} overlapped the job) | {statistics.median(d):.0f} | {percentile(d, 95):.0f} |", ""]
    lines += ["### F5-TTS and CosyVoice: **published figures** (no GPU was lent for this run)", "",
              "| engine | speed (published) | quality (published) |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in PUBLISHED]
    lines += ["", end]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--no-system", action="store_true", help="engine figures only")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    machine = machine_info()
    with tempfile.TemporaryDirectory(prefix="avatar-bench-cloning-") as tmp:
        folder = Path(tmp)
        engine = measure_engine(args.runs, folder / "refs")
        print(f"lite: median {statistics.median(engine['seconds']):.3f} s for {engine['chars']} chars")
        system = None if args.no_system else measure_system(args.turns, folder / "system")
    write_section(args.out, render(engine, system, machine, args), name="cloning")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
