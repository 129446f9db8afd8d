"""Orchestration overhead per turn: what the task-queue plumbing adds to time to first audio.

Starts a whole system (the real API and real Celery workers as subprocesses, the machine's
Redis, SQLite, local storage) with the *deterministic benchmark engines*, then drives it from
N concurrent websocket sessions and measures every turn on the client:

- ``t0``: just before ``user_message`` is emitted;
- time to first token: the turn's first ``llm_token``;
- time to first audio: the turn's ``audio_chunk`` with ``seq`` 0;
- total: the turn's ``turn_audio_complete``.

The engines sleep for fixed times, so their own share of the first-audio path is known
exactly (see :func:`engine_path`); everything else is orchestration overhead::

    overhead = time to first audio - (bench_first_token_ms
                                      + (k - 1) * bench_token_delay_ms
                                      + bench_tts_ms)

where ``k`` is the number of benchmark-LLM tokens streamed until the sentence chunker releases
the first fragment (found by replaying the benchmark reply through ``SentenceChunker`` exactly
as the reply worker feeds it).

Usage::

    python -m bench.overhead [--sessions 1,10,50] [--turns N] [--out docs/benchmarks.md]

The results replace only the part of ``--out`` between the ``bench:overhead`` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import random
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import socketio

from avatar.chunker import SentenceChunker
from avatar.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "docs" / "benchmarks.md"
SECTION_START = "<!-- bench:overhead:start -->"
SECTION_END = "<!-- bench:overhead:end -->"
TARGET_SESSIONS = 10
TARGET_P95_MS = 30.0
START_SPREAD_S = 0.25  # session starts are spread evenly over this window (no thundering herd)
# Sessions are created a few at a time: dozens of simultaneous `POST /api/v1/sessions` on SQLite
# stall for the 30 s busy timeout (the write transaction stays open until the request's
# dependency exits, while the response validation waits for a free threadpool worker).
CREATE_CONCURRENCY = 4
CONNECT_ATTEMPTS = 5

Log = Callable[[str], None]


# --------------------------------------------------------------------------------------------
# configuration
# --------------------------------------------------------------------------------------------
@dataclass
class BenchConfig:
    sessions: list[int] = field(default_factory=lambda: [1, 10, 50])
    turns: int | None = None  # turns per session at every level; None: automatic (see turns_for)
    target_turns: int = 300  # automatic: about this many turns per level ...
    min_session_turns: int = 2  # ... and at least this many per session
    tts_concurrency: int = 4
    llm_concurrency: int = 64
    warmup_turns: int = 3
    turn_timeout_s: float = 60.0
    think_ms: float = 0.0  # pause between a turn's audio completing and the session's next message

    def turns_for(self, sessions: int) -> int:
        if self.turns is not None:
            return self.turns
        return max(self.min_session_turns, math.ceil(self.target_turns / sessions))

    def env(self) -> dict[str, str]:
        return {
            "AVATAR_LLM_ENGINE": "benchmark",
            "AVATAR_TTS_FAST_ENGINE": "benchmark",
            "AVATAR_TTS_HQ_ENGINE": "benchmark",
            # The real `openai` engine is network-bound: threads are the right pool for it.
            "AVATAR_LLM_POOL": "threads",
            "AVATAR_LLM_CONCURRENCY": str(self.llm_concurrency),
            "AVATAR_TTS_FAST_CONCURRENCY": str(self.tts_concurrency),
        }


def settings_from_env(env: dict[str, str]) -> Settings:
    """The settings the workers see: their environment, plus the repo's .env (their cwd)."""
    with mock.patch.dict(os.environ, env, clear=True):
        return Settings(_env_file=REPO / ".env")  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# the engines' own time on the path to first audio
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EnginePath:
    tokens: int  # k: tokens streamed until the chunker released the first fragment
    first_fragment: str
    released_by: str  # the delta whose arrival released it ("" when only flush did)
    first_token_ms: float
    token_delay_ms: float
    tts_ms: float

    @property
    def engine_ms(self) -> float:
        return self.first_token_ms + (self.tokens - 1) * self.token_delay_ms + self.tts_ms


def benchmark_deltas(settings: Settings) -> list[str]:
    """The deltas ``BenchmarkLLM.stream`` yields (two characters a token, capped by max tokens)."""
    reply, limit = settings.bench_reply, settings.llm_max_tokens
    return [reply[i : i + 2] for i in range(0, min(len(reply), 2 * limit), 2)]


def engine_path(settings: Settings) -> EnginePath:
    """Replay the benchmark reply through ``SentenceChunker`` as ``workers.reply`` does."""
    deltas = benchmark_deltas(settings)
    chunker = SentenceChunker()
    tokens, fragment, released_by = 0, "", ""
    for delta in deltas:
        if not delta:
            continue  # the worker skips empty deltas too
        tokens += 1
        spoken = [f for f in chunker.feed(delta) if f.strip()]  # the worker drops silent fragments
        if spoken:
            fragment, released_by = spoken[0].strip(), delta
            break
    else:  # only the end of the stream releases it: no extra token delay after the last token
        spoken = [f for f in chunker.flush() if f.strip()]
        if not spoken:
            raise ValueError("the benchmark reply has nothing to speak (AVATAR_BENCH_REPLY)")
        fragment = spoken[0].strip()
    return EnginePath(
        tokens=tokens, first_fragment=fragment, released_by=released_by,
        first_token_ms=settings.bench_first_token_ms, token_delay_ms=settings.bench_token_delay_ms,
        tts_ms=settings.bench_tts_ms,
    )


# --------------------------------------------------------------------------------------------
# the load: sessions over real websockets
# --------------------------------------------------------------------------------------------
@dataclass
class TurnTrace:
    """Client-side receive times (perf_counter) of one turn's events."""

    first_token: float | None = None
    first_audio: float | None = None
    audio_complete: float | None = None
    server_latency: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class TurnResult:
    ttft_ms: float
    ttfa_ms: float
    total_ms: float
    overhead_ms: float
    server_first_token_ms: float | None
    server_first_audio_ms: float | None


@dataclass
class LevelResult:
    sessions: int
    turns_per_session: int
    results: list[TurnResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    wall_s: float = 0.0


class Interrupted(Exception):
    """Ctrl-C/SIGTERM asked the measurement to stop."""


async def _unless_stopped(awaitable: Any, stop: asyncio.Event) -> Any:
    """Await ``awaitable`` unless ``stop`` is set first (then raise :class:`Interrupted`).
    Stopping by an event, not by cancelling tasks: nothing in between can swallow it."""
    task = asyncio.ensure_future(awaitable)
    halt = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, halt}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        halt.cancel()
    if task.done():
        return task.result()
    task.cancel()
    raise Interrupted


class BenchClient:
    """One session's websocket; events are filed by ``turn_id`` the moment they arrive, so an
    event that overtakes the ``user_message`` ack is not lost."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # handle_sigint=False: the benchmark handles Ctrl-C itself (see _StopRequest)
        self.sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        self.traces: dict[str, TurnTrace] = {}
        self.sio.on("llm_token", self._on_token)
        self.sio.on("audio_chunk", self._on_audio)
        self.sio.on("turn_audio_complete", self._on_complete)
        self.sio.on("error", self._on_error)

    def trace(self, turn_id: str) -> TurnTrace:
        if turn_id not in self.traces:
            self.traces[turn_id] = TurnTrace()
        return self.traces[turn_id]

    def _on_token(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        if trace.first_token is None:
            trace.first_token = now

    def _on_audio(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        if data.get("seq") == 0 and trace.first_audio is None:
            trace.first_audio = now

    def _on_complete(self, data: dict[str, Any]) -> None:
        now = time.perf_counter()
        trace = self.trace(data["turn_id"])
        trace.audio_complete = now
        trace.server_latency = dict(data.get("latency") or {})
        if data.get("failed"):
            trace.error = f"{data['failed']} sentence(s) failed"
        trace.done.set()

    def _on_error(self, data: dict[str, Any]) -> None:
        turn_id = data.get("turn_id") if isinstance(data, dict) else None
        if turn_id:
            trace = self.trace(turn_id)
            trace.error = f"{data.get('code')}: {data.get('message')}"
            trace.done.set()

    async def connect(self, http: httpx.AsyncClient, gate: asyncio.Semaphore) -> None:
        async with gate:  # setup, not measured: see CREATE_CONCURRENCY
            response = await http.post(f"{self.base_url}/api/v1/sessions")
        response.raise_for_status()
        session = response.json()
        auth = {"session_id": session["session_id"], "token": session["token"]}
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                await self.sio.connect(self.base_url, auth=auth, transports=["websocket"], wait_timeout=30)
                return
            except socketio.exceptions.ConnectionError:
                # The API may answer `POST /sessions` before its transaction commits, so a
                # websocket that connects at once is (rarely) refused with SESSION_NOT_FOUND.
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def disconnect(self) -> None:
        try:
            await self.sio.disconnect()
        except Exception:  # already gone: nothing to release
            pass

    async def turn(self, text: str, engine_ms: float, timeout_s: float, stop: asyncio.Event) -> TurnResult:
        t0 = time.perf_counter()
        ack = await _unless_stopped(self.sio.call("user_message", {"text": text}, timeout=timeout_s), stop)
        if not isinstance(ack, dict) or not ack.get("ok"):
            raise RuntimeError(f"user_message refused: {ack!r}")
        turn_id = ack["turn_id"]
        trace = self.trace(turn_id)
        try:
            await _unless_stopped(asyncio.wait_for(trace.done.wait(), timeout_s), stop)
        except TimeoutError:
            raise RuntimeError(f"turn {turn_id} not complete after {timeout_s}s") from None
        finally:
            self.traces.pop(turn_id, None)
        if trace.error:
            raise RuntimeError(f"turn {turn_id}: {trace.error}")
        if trace.first_token is None or trace.first_audio is None or trace.audio_complete is None:
            raise RuntimeError(f"turn {turn_id}: completed without a token or the first audio chunk")
        ttfa = (trace.first_audio - t0) * 1000.0
        return TurnResult(
            ttft_ms=(trace.first_token - t0) * 1000.0,
            ttfa_ms=ttfa,
            total_ms=(trace.audio_complete - t0) * 1000.0,
            overhead_ms=ttfa - engine_ms,
            server_first_token_ms=trace.server_latency.get("first_token_ms"),
            server_first_audio_ms=trace.server_latency.get("first_audio_ms"),
        )


async def run_level(
    base_url: str, sessions: int, turns_per_session: int, engine_ms: float, timeout_s: float,
    *, stop: asyncio.Event | None = None, label: str = "bench", think_s: float = 0.0,
) -> LevelResult:
    """``sessions`` concurrent sessions, each sending its next message as soon as its
    previous turn's audio is complete (closed loop; ``think_s`` later, if given). Returns
    early, with what it has, once ``stop`` is set."""
    stop = stop or asyncio.Event()
    level = LevelResult(sessions=sessions, turns_per_session=turns_per_session)
    clients = [BenchClient(base_url) for _ in range(sessions)]
    async with httpx.AsyncClient(timeout=30) as http:
        try:
            gate = asyncio.Semaphore(CREATE_CONCURRENCY)
            await _unless_stopped(asyncio.gather(*(c.connect(http, gate) for c in clients)), stop)

            async def session_loop(index: int, client: BenchClient) -> None:
                await _unless_stopped(asyncio.sleep(START_SPREAD_S * index / sessions), stop)
                for n in range(turns_per_session):
                    if n and think_s > 0:  # uniform 0..2x the mean, so sessions drift out of step
                        await _unless_stopped(asyncio.sleep(random.uniform(0, 2 * think_s)), stop)
                    try:
                        level.results.append(
                            await client.turn(f"{label} {sessions}/{index} 第 {n + 1} 句：今天天氣如何？",
                                              engine_ms, timeout_s, stop)
                        )
                    except (RuntimeError, TimeoutError, socketio.exceptions.SocketIOError) as exc:
                        level.failures.append(str(exc))
                        return  # this session's state is unknown now; the others go on

            async def guarded(index: int, client: BenchClient) -> None:
                try:
                    await session_loop(index, client)
                except Interrupted:
                    pass

            started = time.perf_counter()
            await asyncio.gather(*(guarded(i, c) for i, c in enumerate(clients)))
            level.wall_s = time.perf_counter() - started
        except Interrupted:
            pass
        finally:
            await asyncio.gather(*(c.disconnect() for c in clients))
    return level


# --------------------------------------------------------------------------------------------
# statistics, machine, report
# --------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def machine_info() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    os_name = platform.system()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
                break
    except OSError:
        pass
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    info = {
        "CPU": cpu,
        "Cores": f"{cores} logical" + (f" ({usable} usable)" if usable != cores else ""),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{os_name} (kernel {platform.release()})",
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if hasattr(os, "getloadavg"):
        info["Load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


@dataclass
class Report:
    config: BenchConfig
    settings: Settings
    path: EnginePath
    machine: dict[str, str]
    levels: list[LevelResult]
    command: str

    def level(self, sessions: int) -> LevelResult | None:
        return next((lv for lv in self.levels if lv.sessions == sessions), None)

    def target(self) -> tuple[str, float]:
        """("PASS"|"FAIL"|"NOT MEASURED", P95 overhead at TARGET_SESSIONS)."""
        level = self.level(TARGET_SESSIONS)
        if level is None or not level.results:
            return "NOT MEASURED", math.nan
        p95 = percentile([r.overhead_ms for r in level.results], 95)
        return ("PASS" if p95 <= TARGET_P95_MS else "FAIL"), p95


def _ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def render_section(report: Report) -> str:
    cfg, s, path = report.config, report.settings, report.path
    verdict, p95 = report.target()
    lines = [
        SECTION_START,
        "## Orchestration overhead per turn",
        "",
        "> **Note: these figures use the deterministic benchmark engines, not real models.** "
        "The LLM and TTS engines only sleep for fixed times (below), so the numbers measure the "
        "orchestration (API, Celery, Redis, SQLite, Socket.IO) and nothing about model speed.",
        "",
        f"Generated by `{report.command}`.",
        "",
        f"**Target: orchestration overhead P95 <= {TARGET_P95_MS:g} ms at {TARGET_SESSIONS} sessions: "
        f"{verdict}** (measured P95: {_ms(p95)} ms).",
        "",
        "### Machine",
        "",
        _row(["Item", "Value"]),
        _row(["---", "---"]),
        *(_row([k, v]) for k, v in report.machine.items()),
        "",
        "Everything runs on this one machine: the benchmark clients, the API, the workers and Redis.",
        "",
        "### Configuration",
        "",
        f"- LLM engine `benchmark`: first token after `bench_first_token_ms` = {s.bench_first_token_ms:g} ms, "
        f"then `bench_token_delay_ms` = {s.bench_token_delay_ms:g} ms per token, two characters a token; "
        f"reply `{s.bench_reply}` ({len(s.bench_reply)} characters, "
        f"{len(benchmark_deltas(s))} tokens).",
        f"- TTS fast engine `benchmark`: `bench_tts_ms` = {s.bench_tts_ms:g} ms per sentence.",
        f"- `llm` lane: `{s.llm_pool}` pool, concurrency {s.llm_concurrency} (one worker process). "
        f"`tts_fast` lane: `prefork` pool, concurrency {s.tts_fast_concurrency}. One API process (uvicorn).",
        "- Database: SQLite (WAL) in a temporary directory; storage: local files; broker, results and "
        "Socket.IO pub/sub: the local Redis.",
        "- Load: for each level, that many sessions, each with its own websocket "
        "(python-socketio `AsyncClient`, all in one client process). Each session sends its next "
        "`user_message` as soon as the previous turn's `turn_audio_complete` arrives (closed loop, "
        + (f"then a think time drawn uniformly from 0 to {2 * cfg.think_ms:g} ms" if cfg.think_ms > 0
           else "no think time")
        + f"); session starts are spread over the first {START_SPREAD_S * 1000:g} ms. "
        f"{cfg.warmup_turns} warm-up turn(s) before the first level are not counted. Sessions "
        f"are created and connected before each level starts ({CREATE_CONCURRENCY} at a time; not "
        "measured).",
        "",
        "### Method",
        "",
        "Measured on the client, from `t0` = just before `user_message` is emitted:",
        "",
        "- **TTFT** (time to first token): the turn's first `llm_token`;",
        "- **TTFA** (time to first audio): the turn's `audio_chunk` with `seq` 0;",
        "- **total**: the turn's `turn_audio_complete`.",
        "",
        "The engines' own time on the path to first audio is fixed:",
        "",
        "```",
        "engine_ms = bench_first_token_ms + (k - 1) * bench_token_delay_ms + bench_tts_ms",
        "overhead  = TTFA - engine_ms",
        "```",
        "",
        "where `k` is the number of tokens the benchmark LLM streams until `SentenceChunker` releases "
        "the first fragment, found by replaying the benchmark reply through the chunker with the "
        "same deltas the reply worker feeds it (the chunker releases a fragment only once the next "
        "speakable unit has arrived). "
        + (
            f"Here the first fragment `{path.first_fragment}` is released by token {path.tokens} "
            f"(`{path.released_by}`), so `k` = {path.tokens} and engine_ms = "
            if path.released_by
            else f"Here the first fragment `{path.first_fragment}` is released only at the end of the "
            f"stream, after token {path.tokens}, so `k` = {path.tokens} and engine_ms = "
        )
        + f"{path.first_token_ms:g} + {path.tokens - 1} x {path.token_delay_ms:g} + {path.tts_ms:g} "
        f"= **{path.engine_ms:g} ms**.",
        "",
        "The overhead therefore covers everything else on that path: API socket handler, SQLite "
        "insert, Celery publish, worker pick-up, database read, token events through Redis pub/sub "
        "and the API, TTS job publish and pick-up, WAV encoding, the audio sequencer, the audio "
        "event back through Redis and the API, and the client's own event loop. Percentiles "
        "interpolate linearly between closest ranks. *Server* columns are the turn's own "
        "`latency` record (`first_token_ms`, `first_audio_ms`), measured by the workers from the "
        "moment the API accepted the message.",
        "",
        "### Results (ms)",
        "",
        _row(["Sessions", "Turns", "Failed", "Turns/s", "Overhead median", "Overhead P95",
              "TTFT median", "TTFT P95", "TTFA median", "TTFA P95", "Total median", "Total P95"]),
        _row(["---:"] * 12),
    ]
    for level in report.levels:
        rs = level.results
        cols = [[r.overhead_ms for r in rs], [r.ttft_ms for r in rs], [r.ttfa_ms for r in rs],
                [r.total_ms for r in rs]]
        rate = len(rs) / level.wall_s if level.wall_s > 0 else math.nan
        lines.append(_row(
            [str(level.sessions), str(len(rs)), str(len(level.failures)), _ms(rate)]
            + [_ms(percentile(c, q)) for c in cols for q in (50, 95)]
        ))
    for level in report.levels:
        rs = level.results
        lines += [
            "",
            f"#### {level.sessions} session{'s' if level.sessions != 1 else ''}",
            "",
            f"{len(rs)} turns ({level.turns_per_session} per session), {len(level.failures)} failed, "
            f"{level.wall_s:.1f} s.",
            "",
            _row(["Metric (ms)", "median", "P95", "max"]),
            _row(["---", "---:", "---:", "---:"]),
        ]
        metrics: list[tuple[str, list[float]]] = [
            ("Orchestration overhead", [r.overhead_ms for r in rs]),
            ("Time to first token", [r.ttft_ms for r in rs]),
            ("Time to first audio", [r.ttfa_ms for r in rs]),
            ("Total", [r.total_ms for r in rs]),
            ("Server first token (from accept)",
             [r.server_first_token_ms for r in rs if r.server_first_token_ms is not None]),
            ("Server first audio (from accept)",
             [r.server_first_audio_ms for r in rs if r.server_first_audio_ms is not None]),
        ]
        for name, values in metrics:
            lines.append(_row([name, _ms(percentile(values, 50)), _ms(percentile(values, 95)),
                               _ms(max(values) if values else math.nan)]))
        if level.failures:
            lines += ["", "Failures:", ""]
            lines += [f"- {f}" for f in level.failures[:5]]
            if len(level.failures) > 5:
                lines.append(f"- ... and {len(level.failures) - 5} more")
    lines += ["", SECTION_END]
    return "\n".join(lines) + "\n"


def write_section(out: Path, section: str) -> None:
    """Replace the ``bench:overhead`` section of ``out`` (or add it), keeping everything else."""
    section = section.rstrip("\n")
    if out.exists():
        text = out.read_text(encoding="utf-8")
        start, end = text.find(SECTION_START), text.find(SECTION_END)
        if start != -1 and end > start:
            text = text[:start] + section + text[end + len(SECTION_END):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = (
            "# AVATAR benchmarks\n\n"
            "Each section is written by one benchmark script (`python -m bench.<name>`) between its "
            "own markers; re-running a script replaces only its section.\n\n" + section + "\n"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# the whole run
# --------------------------------------------------------------------------------------------
class _StopRequest:
    """Ctrl-C / SIGTERM: while the measurement's event loop runs, set its ``stop`` event (the
    sessions end at once and the loop unwinds normally); otherwise, or on a second signal,
    raise KeyboardInterrupt. Either way the ``finally`` that stops the system runs."""

    def __init__(self) -> None:
        self.requested = False
        self.loop: asyncio.AbstractEventLoop | None = None
        self.event: asyncio.Event | None = None

    def handler(self, signum: int, frame: Any) -> None:
        loop, event = self.loop, self.event
        if self.requested or loop is None or event is None or not loop.is_running():
            raise KeyboardInterrupt(f"signal {signum}")
        self.requested = True
        loop.call_soon_threadsafe(event.set)


@contextmanager
def _signals_to(stop: _StopRequest) -> Iterator[None]:
    try:
        previous = {sig: signal.signal(sig, stop.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run_overhead(
    config: BenchConfig, out: Path, *, work_dir: Path | None = None, log: Log = print,
    command: str = "python -m bench.overhead",
) -> Report:
    """Start a benchmark system, measure every level, stop everything, write ``out``'s section."""
    from tests.conftest import make_system  # the same whole-system harness the tests use

    if not config.sessions or any(c < 1 for c in config.sessions):
        raise ValueError("session counts must be positive")
    own_dir = work_dir is None
    root = Path(tempfile.mkdtemp(prefix="avatar-bench-")) if own_dir else work_dir
    assert root is not None
    models_dir = root / "models"  # the benchmark engines need no model
    models_dir.mkdir(parents=True, exist_ok=True)
    system = None
    failed = True
    stop = _StopRequest()
    with _signals_to(stop):
        try:
            machine = machine_info()  # before anything starts: the load average is other people's
            system = make_system(root, "bench", models_dir, **config.env())
            settings = settings_from_env(system.env)
            path = engine_path(settings)
            log(f"engines' own time on the first-audio path: {path.engine_ms:g} ms (k = {path.tokens})")
            system.start_api()
            system.start_worker("llm", concurrency=config.llm_concurrency)
            system.start_worker("tts_fast", concurrency=config.tts_concurrency)
            system.wait_for_lanes("llm", "tts_fast")
            machine["Redis"] = str(system.redis().info("server").get("redis_version", "unknown"))
            log(f"system up at {system.base_url} (logs: {system.log_dir})")

            async def measure() -> list[LevelResult]:
                stop.loop, stop.event = asyncio.get_running_loop(), asyncio.Event()
                try:
                    return await measure_levels(stop.event)
                finally:
                    stop.loop = stop.event = None

            async def measure_levels(halt: asyncio.Event) -> list[LevelResult]:
                warm = await run_level(system.base_url, 1, config.warmup_turns, path.engine_ms,
                                       config.turn_timeout_s, stop=halt, label="warm-up")
                if warm.failures:
                    raise RuntimeError(f"warm-up failed: {warm.failures[0]}")
                levels: list[LevelResult] = []
                for sessions in config.sessions:
                    if halt.is_set():
                        break
                    turns = config.turns_for(sessions)
                    log(f"{sessions} session(s) x {turns} turn(s) ...")
                    level = await run_level(system.base_url, sessions, turns, path.engine_ms,
                                            config.turn_timeout_s, stop=halt,
                                            think_s=config.think_ms / 1000.0)
                    over = [r.overhead_ms for r in level.results]
                    log(f"  {len(level.results)} turns, {len(level.failures)} failed, {level.wall_s:.1f} s; "
                        f"overhead median {_ms(percentile(over, 50))} ms, P95 {_ms(percentile(over, 95))} ms")
                    levels.append(level)
                    await asyncio.sleep(0.5)  # let stragglers (storage, DB writes) settle
                return levels

            levels = asyncio.run(measure())
            if stop.requested:
                raise KeyboardInterrupt("interrupted")
            report = Report(config=config, settings=settings, path=path,
                            machine=machine, levels=levels, command=command)
            write_section(out, render_section(report))
            verdict, p95 = report.target()
            log(f"wrote {out}; target (P95 <= {TARGET_P95_MS:g} ms at {TARGET_SESSIONS} sessions): "
                f"{verdict} ({_ms(p95)} ms)")
            failed = False
            return report
        finally:
            if system is not None:
                system.stop_all()
            if own_dir:
                if failed:
                    log(f"benchmark did not finish; logs kept in {root / 'var' / 'log'}")
                else:
                    shutil.rmtree(root, ignore_errors=True)


def _levels(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("session counts must be positive integers")
    return values


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=_levels, default=[1, 10, 50],
                        help="concurrency levels, comma-separated (default 1,10,50)")
    parser.add_argument("--turns", type=int, default=None,
                        help="turns per session at every level (default: about --target-turns per level, "
                        "at least 2 per session)")
    parser.add_argument("--target-turns", type=int, default=300, help="automatic turns per level (default 300)")
    parser.add_argument("--tts-concurrency", type=int, default=4, help="tts_fast prefork processes (default 4)")
    parser.add_argument("--llm-concurrency", type=int, default=64, help="llm lane threads (default 64)")
    parser.add_argument("--warmup", type=int, default=3, help="warm-up turns, not counted (default 3)")
    parser.add_argument("--think-ms", type=float, default=0.0,
                        help="mean pause before a session's next message, drawn uniformly from 0 to twice "
                        "this (default 0: closed loop, no pause)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--check", action="store_true",
                        help=f"exit with status 1 when the target (P95 <= {TARGET_P95_MS:g} ms at "
                        f"{TARGET_SESSIONS} sessions) fails")
    args = parser.parse_args(argv)
    if args.turns is not None and args.turns < 1:
        parser.error("--turns must be at least 1")
    config = BenchConfig(
        sessions=args.sessions, turns=args.turns, target_turns=args.target_turns,
        tts_concurrency=args.tts_concurrency, llm_concurrency=args.llm_concurrency,
        warmup_turns=max(1, args.warmup), think_ms=max(0.0, args.think_ms),
    )
    shown = ["python -m bench.overhead", "--sessions", ",".join(map(str, args.sessions))]
    if args.turns is not None:
        shown += ["--turns", str(args.turns)]
    if args.tts_concurrency != 4:
        shown += ["--tts-concurrency", str(args.tts_concurrency)]
    if args.llm_concurrency != 64:
        shown += ["--llm-concurrency", str(args.llm_concurrency)]
    if args.think_ms > 0:
        shown += ["--think-ms", f"{args.think_ms:g}"]
    try:
        report = run_overhead(config, args.out, command=" ".join(shown))
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return 1 if args.check and report.target()[0] == "FAIL" else 0


if __name__ == "__main__":
    sys.exit(main())
