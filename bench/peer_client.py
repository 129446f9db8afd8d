"""The peer's side of ``bench.peer``: the Pipecat server (in its own environment) and one timed
session of it, measured on the client exactly as AVATAR's are (:mod:`bench.client`)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench import peer_wire
from bench.client import TurnResult, TurnTrace, unless_stopped
from bench.config import REPO
from bench.load import Session

SERVER_SCRIPT = REPO / "bench" / "peer_pipecat_server.py"
ENV_NAME = "pipecat"
REPLY_END = "reply-audio-complete"  # peer_pipecat_server.REPLY_END (that module runs in the other env)
FIRST_TOKEN_MESSAGE = "bot-llm-text"  # Pipecat's RTVI message carrying an LLM token
START_TIMEOUT_S = 90.0
Log = Callable[[str], None]


def pipecat_python(log: Log = print) -> Path:
    """The Pipecat environment's python, built first when it is not (with pip's progress)."""
    from avatar import engine_envs

    if engine_envs.is_built(ENV_NAME):
        return engine_envs.python_of(ENV_NAME)
    log(f"building the {ENV_NAME} environment (once; `avatar engines install {ENV_NAME}` does the same) ...")
    from cli.engines import install

    return install(ENV_NAME, log=log)


@contextmanager
def pipecat_server(settings: Any, log_dir: Path, port: int, log: Log = print) -> Iterator[str]:
    """Pipecat's server with AVATAR's benchmark engine settings; yields its websocket URL."""
    python = pipecat_python(log)
    argv = [
        str(python), str(SERVER_SCRIPT), "--port", str(port), "--reply", settings.bench_reply,
        "--first-token-ms", f"{settings.bench_first_token_ms:g}",
        "--token-delay-ms", f"{settings.bench_token_delay_ms:g}",
        "--tts-ms", f"{settings.bench_tts_ms:g}", "--max-tokens", str(settings.llm_max_tokens),
    ]
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / "pipecat.log"
    with open(log_path, "w") as log_file:
        # Its own working directory and no PYTHONPATH: nothing of AVATAR's is importable there.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, cwd=log_dir, env=env)
    try:
        _wait_healthy(proc, f"http://127.0.0.1:{port}/health", log_path)
        log(f"Pipecat server up on port {port} (log: {log_path})")
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc: subprocess.Popen, url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the Pipecat server exited ({proc.returncode}):\n{log_path.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the Pipecat server did not answer {url} within {START_TIMEOUT_S:g}s")


class PipecatClient:
    """One Pipecat session: its own websocket (so its own pipeline on the server). A turn is
    timed from just before the message is sent to the first audio frame (time to first audio),
    the first ``bot-llm-text`` message (time to first token) and the server's reply-end message
    (total; it carries the reply's audio length for the playback pacing)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: Any = None
        self._reader: asyncio.Task | None = None
        self._trace: TurnTrace | None = None

    async def connect(self) -> None:
        self.ws = await websockets.connect(self.url, max_size=None, open_timeout=30)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                trace = self._trace
                if trace is None or not isinstance(data, bytes):
                    continue
                now = time.perf_counter()
                frame = peer_wire.decode(data)
                if frame.kind == peer_wire.FRAME_AUDIO:
                    if trace.first_audio is None:
                        trace.first_audio = now
                elif frame.kind == peer_wire.FRAME_MESSAGE and isinstance(frame.message, dict):
                    kind = frame.message.get("type")
                    if kind == FIRST_TOKEN_MESSAGE and trace.first_token is None:
                        trace.first_token = now
                    elif kind == REPLY_END:
                        trace.audio_complete = now
                        trace.audio_ms = float(frame.message.get("audio_ms") or 0.0)
                        trace.done.set()
        except websockets.ConnectionClosed:
            pass
        if self._trace is not None and not self._trace.done.is_set():
            self._trace.error = "the Pipecat server closed the connection"
            self._trace.done.set()

    async def disconnect(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self._reader is not None:
            self._reader.cancel()

    async def turn(self, text: str, engine_ms: float, timeout_s: float, stop: asyncio.Event) -> TurnResult:
        trace = self._trace = TurnTrace()
        t0_wall, t0 = time.time(), time.perf_counter()
        try:
            await self.ws.send(peer_wire.transcription(text))
            await unless_stopped(asyncio.wait_for(trace.done.wait(), timeout_s), stop)
        except TimeoutError:
            raise RuntimeError(f"Pipecat reply not complete after {timeout_s}s") from None
        except websockets.ConnectionClosed as exc:
            raise RuntimeError(f"Pipecat connection closed: {exc}") from None
        finally:
            self._trace = None
        if trace.error:
            raise RuntimeError(trace.error)
        if trace.first_audio is None or trace.audio_complete is None:
            raise RuntimeError("Pipecat reply ended without audio")
        ttfa = (trace.first_audio - t0) * 1000.0
        return TurnResult(
            ttft_ms=((trace.first_token or trace.first_audio) - t0) * 1000.0, ttfa_ms=ttfa,
            total_ms=(trace.audio_complete - t0) * 1000.0, overhead_ms=ttfa - engine_ms,
            server_first_token_ms=None, server_first_audio_ms=None, t0=t0, audio_ms=trace.audio_ms,
            t0_wall=t0_wall, first_audio_wall=t0_wall + (trace.first_audio - t0),
        )


class PipecatSessions:
    """Opens Pipecat sessions for a level (:class:`bench.load.SessionOpener`)."""

    def __init__(self, url: str) -> None:
        self.url = url

    @asynccontextmanager
    async def open(self, count: int, stop: asyncio.Event) -> AsyncIterator[Sequence[Session]]:
        clients = [PipecatClient(self.url) for _ in range(count)]
        try:
            await unless_stopped(asyncio.gather(*(c.connect() for c in clients)), stop)
            await asyncio.sleep(0.5)  # each connection's pipeline starts (not measured)
            yield clients
        finally:
            await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
