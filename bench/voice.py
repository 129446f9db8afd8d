"""Voice to voice: a real recording streamed in real time over Socket.IO, to the first audio of
the spoken reply at the client, on the ``cpu`` profile with real-size models (random weights).

The whole system runs as ``make up`` runs it on the ``cpu`` profile (the real API, real Celery
workers on the ``llm``, ``asr``, ``tts_fast`` and ``prosody`` lanes, the machine's Redis,
SQLite, local files), with ``avatar models random``'s Qwen2.5-0.5B-Instruct (transformers,
bf16) and Whisper small (CTranslate2 int8) in place of the real weights: the same cost, with
the length of what they generate fixed (:class:`avatar.model_files.RandomWeights`). The reply is
spoken by the ``lite`` engine in a voice cloned from the same recording.

Each session is a python-socketio client that streams the recording as 40 ms PCM frames at
real-time pace, then waits for the reply. **Closed loop**: a session speaks again as soon as
its reply has finished playing (the sum of its sentences' ``duration_ms``, counted from the
arrival of the first, or ``turn_audio_complete`` if that comes later). The load model is fixed
before the run; the target (the seed's P95 <= 3.5 s) is judged at 1 session.

Per turn, on the client's clock, from the end of the user's speech (the recording's last
voiced sample, as sent):

- **end of speech → `vad_state speech_end`**: the VAD's silence rule (``vad_min_silence_ms``);
- **→ `transcription_final`**: the ``asr`` stage, of which ``queue_ms`` (waiting for a worker)
  and ``asr_ms`` (the model) come in the event;
- **→ first `llm_token`**: the ``llm`` stage, of which ``turn_started``'s ``queue_ms``;
- **→ `audio_chunk` seq 0**: the ``tts_fast`` stage, of which the chunk's ``queue_ms`` and
  ``synthesis_ms``; the rest of this gap is the LLM streaming until the chunker releases the
  first sentence.

Usage::

    python -m bench.voice [--sessions 1,3,5] [--turns 20] [--out docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import machine_info, percentile, write_section

DEFAULT_OUT = Path("docs/benchmarks.md")
MODELS = ("qwen2.5-0.5b-instruct", "faster-whisper-small")
TARGET_P95_S = 3.5  # the seed's voice-to-voice target, judged at TARGET_SESSIONS
TARGET_SESSIONS = 1
FRAME_MS = 40
OPENING_WORD_S = 0.9  # where the recording's second word begins (see recording())
SILENCE_AFTER_S = 1.5  # the microphone keeps sending silence until the VAD has ended the turn
LEAD_S = 0.3  # silence streamed before the speech
TURN_TIMEOUT_S = 300.0


@dataclass
class VoiceTurn:
    """One spoken turn, times in seconds on the client's monotonic clock."""

    speech_end: float  # the recording's last voiced sample was sent
    vad_end: float = 0.0
    final: float = 0.0
    first_token: float = 0.0
    first_audio: float = 0.0
    complete: float = 0.0
    playback_end: float = 0.0
    asr_ms: float = 0.0
    asr_queue_ms: float = 0.0
    llm_queue_ms: float = 0.0
    tts_queue_ms: float = 0.0
    synthesis_ms: float = 0.0
    utterances: int = 1  # how many utterances the VAD cut the recording into

    def stages_ms(self) -> dict[str, float]:
        ms = 1000.0
        return {
            "vad": (self.vad_end - self.speech_end) * ms,
            "asr": (self.final - self.vad_end) * ms, "asr_queue": self.asr_queue_ms, "asr_model": self.asr_ms,
            "llm": (self.first_token - self.final) * ms, "llm_queue": self.llm_queue_ms,
            "tts": (self.first_audio - self.first_token) * ms, "tts_queue": self.tts_queue_ms,
            "tts_synthesis": self.synthesis_ms,
            "total": (self.first_audio - self.speech_end) * ms,
            "total_from_vad": (self.first_audio - self.vad_end) * ms,
        }


@dataclass
class Level:
    sessions: int
    turns: list[VoiceTurn] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class VoiceSession:
    """One user: a websocket that speaks the recording, then listens to the reply."""

    def __init__(self, base_url: str, auth: dict[str, Any]) -> None:
        import socketio

        self.base_url, self.auth = base_url, auth
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: list[tuple[float, str, Any]] = []
        self.changed = asyncio.Event()

        @self.sio.on("*")
        async def _any(event: str, data: Any = None) -> None:
            self.events.append((time.monotonic(), event, data))
            self.changed.set()

    async def connect(self) -> None:
        await self.sio.connect(self.base_url, auth=self.auth, transports=["websocket"], wait_timeout=10)

    async def _first(self, since: int, test: Any, timeout_s: float) -> tuple[float, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            for at, name, data in self.events[since:]:
                if test(name, data):
                    return at, data
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [name for _, name, _ in self.events[since:]]
                raise TimeoutError(f"no matching event within {timeout_s:.0f} s; seen {seen[-12:]}")
            self.changed.clear()
            try:
                await asyncio.wait_for(self.changed.wait(), remaining)
            except TimeoutError:
                pass

    async def speak(self, pcm: np.ndarray, speech_end_s: float) -> VoiceTurn:
        """Stream ``pcm`` at real-time pace; the turn it starts, measured to its end."""
        since = len(self.events)
        step = 16 * FRAME_MS
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            await self.sio.emit("audio_chunk", pcm[offset: offset + step].tobytes())
            await asyncio.sleep(max(0.0, started + (index + 1) * FRAME_MS / 1000 - time.monotonic()))
        turn = VoiceTurn(speech_end=started + speech_end_s)
        # The VAD may cut the recording in two at a pause; the turn that answers it is the one
        # its last utterance starts (an earlier one is barged in on, as for a live user).
        await self._first(since, lambda n, d: n == "vad_state" and d.get("state") == "speech_end", 30)
        ends = [(at, d["utterance_id"]) for at, n, d in self.events[since:]
                if n == "vad_state" and d.get("state") == "speech_end"]
        turn.vad_end, utterance = ends[-1]
        turn.utterances = len(ends)
        turn.final, final = await self._first(
            since, lambda n, d: n in ("transcription_final", "transcription_rejected", "error")
            and isinstance(d, dict) and d.get("utterance_id") == utterance, TURN_TIMEOUT_S)
        if "turn_id" not in final or "asr_ms" not in final:
            raise RuntimeError(f"the utterance started no turn: {final}")
        turn_id = final["turn_id"]
        turn.asr_ms, turn.asr_queue_ms = final["asr_ms"], final["queue_ms"]

        def ours(name: str) -> Any:
            return lambda n, d: n == name and isinstance(d, dict) and d.get("turn_id") == turn_id

        _, begun = await self._first(since, ours("turn_started"), TURN_TIMEOUT_S)
        turn.llm_queue_ms = begun["queue_ms"]
        turn.first_token, _ = await self._first(since, ours("llm_token"), TURN_TIMEOUT_S)
        turn.first_audio, chunk = await self._first(
            since, lambda n, d: ours("audio_chunk")(n, d) and d.get("seq") == 0, TURN_TIMEOUT_S)
        turn.tts_queue_ms, turn.synthesis_ms = chunk["queue_ms"], chunk["synthesis_ms"]
        turn.complete, _ = await self._first(since, ours("turn_audio_complete"), TURN_TIMEOUT_S)
        played = sum(d["duration_ms"] for _, n, d in self.events[since:] if ours("audio_chunk")(n, d)) / 1000.0
        turn.playback_end = max(turn.complete, turn.first_audio + played)
        return turn


async def run_level(base_url: str, sessions: list[dict[str, Any]], voice: str, pcm: np.ndarray,
                    speech_end_s: float, turns_per_session: int, log: Any = print) -> Level:
    level = Level(sessions=len(sessions))
    clients = [VoiceSession(base_url, {"session_id": s["session_id"], "token": s["token"]}) for s in sessions]
    for client in clients:
        await client.connect()
        ack = await client.sio.call("set_tts_mode", {"mode": "fast", "voice_profile_id": voice}, timeout=10)
        if not ack.get("ok"):
            raise RuntimeError(f"set_tts_mode refused: {ack}")
    started = time.monotonic()

    async def loop(index: int, client: VoiceSession) -> None:
        await asyncio.sleep(index * len(pcm) / 16000 / max(1, len(clients)))  # staggered first utterances
        for number in range(turns_per_session):
            try:
                turn = await client.speak(pcm, speech_end_s)
            except (TimeoutError, RuntimeError) as exc:
                level.failures.append(f"session {index} turn {number}: {exc}")
                return
            level.turns.append(turn)
            log(f"  {len(clients)} sessions: turn {len(level.turns)}/{turns_per_session * len(clients)} "
                f"first audio {turn.stages_ms()['total'] / 1000:.2f} s after the end of speech")
            await asyncio.sleep(max(0.0, turn.playback_end - time.monotonic()))  # closed loop: heard, then speak

    try:
        await asyncio.gather(*(loop(i, c) for i, c in enumerate(clients)))
    finally:
        level.wall_s = time.monotonic() - started
        for client in clients:
            await client.sio.disconnect()
    return level


def recording() -> tuple[np.ndarray, float, str]:
    """The utterance (PCM16 at 16 kHz, silence around it), where its speech ends (s), and what
    it is: the human Mandarin recording shipped in the f5-tts wheel."""
    import soundfile as sf

    # here, not at the top: the test helpers and the system below load numpy/soundfile/celery
    # only when a measurement runs, so importing bench.voice (render, the smoke test) stays cheap
    from tests.speech_audio import to_16k, with_silences
    from tests.voices import f5_wheel_member

    member = f5_wheel_member("f5_tts/infer/examples/basic/basic_ref_zh.wav")
    if isinstance(member, str):
        raise RuntimeError(f"the human recording is not available: {member}")
    samples, rate = sf.read(member, dtype="float32")
    samples = samples if samples.ndim == 1 else samples.mean(axis=1)
    # From its second word on: the opening 對 and the 0.5 s pause after it are an utterance of
    # their own to the VAD, and a second utterance arriving while the first one's reply is
    # still being written is refused (TURN_IN_PROGRESS): see the section's notes.
    samples = samples[int(OPENING_WORD_S * rate):]
    speech = with_silences([to_16k(samples, rate)], [SILENCE_AFTER_S], lead_s=LEAD_S)
    return (speech.pcm, speech.truth_ms[0][1] / 1000.0,
            f"basic_ref_zh.wav from the f5-tts wheel (human, Mandarin, male), from {OPENING_WORD_S} s on")


def real_size_models(log: Any = print) -> dict[str, Path]:
    """``avatar models random``'s models this benchmark runs (built once, under var/)."""
    from avatar.settings import Settings  # as in recording(): loaded only when measuring
    from models.real_size import make_random_models, random_models_dir

    models_dir = Settings().resolved_models_dir
    log(f"real-size random models under {random_models_dir(models_dir)} (built once) ...")
    built = make_random_models(models_dir, list(MODELS), log=log)
    return {"llm": built["qwen2.5-0.5b-instruct"], "asr": built["faster-whisper-small"]}


def measure(levels: list[int], turns: int, models: dict[str, Path], log: Any = print) -> dict[str, Any]:
    """Run each level on one system; ``models``: the ``llm`` and ``asr`` folders (each with its
    RandomWeights declaration)."""
    import httpx

    from tests.conftest import make_system  # as in recording(): loaded only when measuring

    pcm, speech_end_s, about = recording()
    root = Path(tempfile.mkdtemp(prefix="avatar-bench-voice-"))
    system = None
    try:
        system = make_system(
            root, "voice_bench", root / "models", AVATAR_PROFILE="cpu",
            AVATAR_LLM_MODEL=str(models["llm"]), AVATAR_ASR_MODEL=str(models["asr"]),
            # random weights have no confidence worth the name: the gate would refuse every utterance
            AVATAR_ASR_MIN_CONFIDENCE="0", AVATAR_ASR_MAX_NO_SPEECH_PROB="1",
        )
        system.start_api()
        lanes = ("llm", "asr", "tts_fast", "prosody")
        for lane in lanes:
            system.start_worker(lane)
        system.wait_for_lanes(*lanes, timeout=300)
        sample = root / "voice.wav"
        sample.write_bytes(_wav(pcm))
        voice = system.upload_voice(sample, name="bench")
        log("warm-up turn ...")
        asyncio.run(run_level(system.base_url, [system.new_session()], voice, pcm, speech_end_s, 1, log=lambda _: None))
        results = []
        for count in levels:
            log(f"{count} concurrent sessions, {turns} turns each ...")
            sessions = [system.new_session() for _ in range(count)]
            per_session = max(2, -(-turns // count)) if count > 1 else turns
            results.append(asyncio.run(run_level(system.base_url, sessions, voice, pcm, speech_end_s, per_session, log)))
        health = httpx.get(f"{system.base_url}/api/v1/health", timeout=10).json()
    except BaseException:
        if system is not None:  # what the processes said, before their folder goes
            for name in system.procs:
                log(f"--- {name} (last lines)\n" + "\n".join(system.log(name).splitlines()[-15:]))
        raise
    finally:
        if system is not None:
            system.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    return {"levels": results, "recording": about, "speech_s": speech_end_s, "lanes": health.get("lanes", {})}


def _wav(pcm: np.ndarray) -> bytes:
    import io

    import soundfile as sf

    buffer = io.BytesIO()
    sf.write(buffer, pcm, 16000, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


STAGES = (  # (key, label) in path order; indented rows are parts of the row above
    ("vad", "end of speech → VAD `speech_end` (silence rule)"),
    ("asr", "→ `transcription_final` (`asr` stage)"),
    ("asr_queue", "  of which waiting for an `asr` worker (`queue_ms`)"),
    ("asr_model", "  of which Whisper small's decode (`asr_ms`)"),
    ("llm", "→ first `llm_token` (`llm` stage)"),
    ("llm_queue", "  of which waiting for an `llm` worker (`turn_started.queue_ms`)"),
    ("tts", "→ first `audio_chunk` (reply streams to its first sentence, `tts_fast` stage)"),
    ("tts_queue", "  of which the sentence waiting for a `tts_fast` worker (`queue_ms`)"),
    ("tts_synthesis", "  of which `lite`'s synthesis (`synthesis_ms`)"),
    ("total", "**end of speech → first audio (judged)**"),
    ("total_from_vad", "VAD `speech_end` → first audio (the server's own latency clock)"),
)


def _s(value: float) -> str:
    return "n/a" if value != value else f"{value / 1000:.2f}"


def saturating_stage(levels: list[Level]) -> str:
    """Which stage's median grows most from the lightest to the heaviest load, and whether
    the growth is queue wait or engine time."""
    if len(levels) < 2 or not levels[0].turns or not levels[-1].turns:
        return "not enough levels to say"

    def median(level: Level, key: str) -> float:
        return percentile([t.stages_ms()[key] for t in level.turns], 50)

    light, heavy = levels[0], levels[-1]
    growth = {key: median(heavy, key) - median(light, key) for key in ("asr", "llm", "tts")}
    stage = max(growth, key=growth.get)
    queue = median(heavy, f"{stage}_queue") - median(light, f"{stage}_queue")
    lane = {"asr": "asr", "llm": "llm", "tts": "tts_fast"}[stage]
    share = queue / growth[stage] if growth[stage] > 0 else 0.0
    return (f"the `{lane}` stage: its median grows by {growth[stage] / 1000:.2f} s from {light.sessions} to "
            f"{heavy.sessions} sessions ({', '.join(f'{k} {v / 1000:+.2f} s' for k, v in growth.items())}), "
            f"{share:.0%} of it waiting in the queue and the rest slower engine time (the 2 cores shared)")


def render(result: dict[str, Any], machine: dict[str, str], command: str) -> str:
    levels: list[Level] = result["levels"]
    judged = next((lv for lv in levels if lv.sessions == TARGET_SESSIONS and lv.turns), None)
    p95 = percentile([t.stages_ms()["total"] for t in judged.turns], 95) / 1000 if judged else float("nan")
    verdict = "n/a (not run)" if judged is None else ("PASS" if p95 <= TARGET_P95_S else "FAIL")
    header = " | ".join(f"{lv.sessions} session{'s' if lv.sessions > 1 else ''} median / P95" for lv in levels)
    lines = [
        "<!-- bench:voice:start -->",
        "## Voice to voice (`python -m bench.voice`): end of speech → first audio, cpu profile, real-size models",
        "",
        "> **Random weights, real size, measured here.** Qwen2.5-0.5B-Instruct (transformers, bf16) and Whisper small "
        "(CTranslate2 int8) from `avatar models random`: the real architectures and sizes, so the real cost, with the "
        "length of what they generate fixed (a reply of 40 tokens, about 50 characters; 5 transcript tokens per second "
        "of speech) and a stand-in text emitted in place of their noise (`avatar/model_files.py` `RandomWeights`). "
        "The reply is spoken by `lite` in a voice cloned from the same recording.",
        "",
        f"Command: `{command}` (the whole run took {result.get('wall_min', float('nan')):.1f} min). Machine: {machine.get('CPU', '')}, {machine.get('Cores', '')} cores, "
        f"{machine.get('RAM', '')}; {machine.get('Date', '')}; load average at start "
        f"{machine.get('Load average at start (1/5/15 min)', 'n/a')}. Everything on this machine: the clients, "
        "the API, the `llm`, `asr`, `tts_fast` and `prosody` workers (one each, the profile's concurrency), Redis, SQLite.",
        "",
        f"Utterance: {result['recording']}, speech {result['speech_s']:.2f} s, streamed as 40 ms frames in real time, "
        f"then {SILENCE_AFTER_S} s of silence. **Load model (fixed before the run): closed loop**: each session speaks "
        "again as soon as its reply has finished playing (its sentences' `duration_ms` from the first one's arrival). "
        "Times are on the client, from the end of the user's speech (the recording's last voiced sample as sent).",
        "",
        f"**Target: end of speech → first audio P95 ≤ {TARGET_P95_S} s at {TARGET_SESSIONS} session: {verdict}"
        + (f" (measured {p95:.2f} s)." if judged else ".") + "**",
        "",
        f"| stage (seconds) | {header} |",
        "| --- |" + " --- |" * len(levels),
    ]
    for key, label in STAGES:
        cells = []
        for lv in levels:
            values = [t.stages_ms()[key] for t in lv.turns]
            cells.append(f"{_s(percentile(values, 50))} / {_s(percentile(values, 95))}")
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines.append("| turns measured (failed) | " + " | ".join(
        f"{len(lv.turns)} ({len(lv.failures)})" for lv in levels) + " |")
    lines.append("| turns whose recording the VAD cut in two or more | " + " | ".join(
        str(sum(t.utterances > 1 for t in lv.turns)) for lv in levels) + " |")
    lines.append("| turns per second, whole system | " + " | ".join(
        f"{len(lv.turns) / lv.wall_s:.3f}" if lv.wall_s else "n/a" for lv in levels) + " |")
    lines += ["", f"The stage that saturates: {saturating_stage(levels)}."]
    failures = [f for lv in levels for f in lv.failures]
    if failures:
        lines += ["", "Failed turns: " + "; ".join(failures[:5]) + (" ..." if len(failures) > 5 else "")]
    lines += [
        "",
        "The stage rows are consecutive gaps on the client's clock and add up to the judged total; the indented rows "
        "are parts of the row above, measured in the worker (`queue_ms`: from the job's creation to its worker "
        "starting it; `asr_ms` / `synthesis_ms`: the engine's own call). A P95 over fewer than 20 turns is close to "
        "the maximum.",
        "<!-- bench:voice:end -->",
    ]
    return "\n".join(lines) + "\n"


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", default="1,3,5")
    parser.add_argument("--turns", type=int, default=20, help="turns per level (at least 2 per session)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # stop the system's processes on the way out
    machine = machine_info()
    started = time.monotonic()
    result = measure([int(x) for x in args.sessions.split(",") if x], args.turns, real_size_models())
    command = ("python -m bench.voice " + " ".join(argv or [])).strip()
    result["wall_min"] = (time.monotonic() - started) / 60
    section = render(result, machine, command)
    write_section(args.out, section, name="voice")
    print(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
