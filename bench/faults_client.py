"""One session of the fault benchmark: a websocket client that counts every turn as exactly
one outcome, whatever happens to the API, Redis or PostgreSQL behind it.

- **completed**: ``turn_audio_complete`` with no failed sentence and an ``audio_chunk`` for
  every sentence of the turn's current generation (after ``turn_restarted`` the client
  starts that turn's audio over, as the chat page does). When the socket dropped meanwhile,
  the client connects again and asks ``resume``, as the page fetches ``GET /turns`` after a
  reconnect: a turn stored ``completed`` with a fast rendering of every sentence counts as
  completed (``via_resume``).
- **error**: the turn ended with a clear error: an ``error`` event for the turn (not an
  HQ-replay or prosody notice, which name their lane), a failed transcription, a
  ``turn_audio_complete`` with failed sentences, a refusal in the ack (``BUSY``,
  ``QUEUE_UNAVAILABLE``...), a ``transcription_rejected``, a turn stored as ``error``, or a
  message the client knows was not taken (the socket dropped before the ack and the
  database has no such turn).
- **hung**: nothing terminal within the turn timeout.
- **lost**: accepted (a turn id came back) and then neither completed nor errored: the audio
  of a sentence never arrived, or the database has no such turn (checked after the run).

Duplicates: an ``audio_chunk`` of a turn's current generation delivered twice for one seq.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

from tests.speech_audio import stream_realtime

COMPLETED, ERROR, HUNG, LOST = "completed", "error", "hung", "lost"
OUTCOMES = (COMPLETED, ERROR, HUNG, LOST)
OPEN = ("pending", "generating", "speaking")
ACK_TIMEOUT_S = 20.0
# After a reconnect mid-utterance: how long the asr lane may take to start a turn from it.
NO_FINAL_GRACE_S = 30.0


@dataclass
class TurnRecord:
    session: int
    kind: str  # typed | spoken
    text: str
    phase: str
    sent_at: float
    ended_at: float = 0.0
    turn_id: str | None = None
    turn_number: int | None = None
    outcome: str = ""
    reason: str = ""
    via_resume: bool = False
    duplicates: int = 0
    restarts: int = 0  # turn_restarted events (a redelivered reply)
    reconnects: int = 0
    db_status: str | None = None


@dataclass
class _Trace:
    """What arrived for one turn id."""

    generation: int = 1
    seqs: set[int] = field(default_factory=set)
    duplicates: int = 0
    restarts: int = 0
    complete: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    hq_ready: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class FaultSession:
    """One session's socket, connected again whenever it drops."""

    def __init__(self, base_url: str, index: int, session: dict[str, Any], headers: dict[str, str]) -> None:
        self.base_url, self.index, self.headers = base_url, index, headers
        self.session_id, self.token = session["session_id"], session["token"]
        self.traces: dict[str, _Trace] = {}
        self.finals: list[dict[str, Any]] = []  # transcription_final / _rejected, in order
        self.prosody: list[str] = []
        self.side_errors: list[str] = []  # error notices of the HQ and prosody lanes
        self.spoken_event = asyncio.Event()
        self.sio: socketio.AsyncClient | None = None
        self.connects = 0
        self.last_number = 0

    def trace(self, turn_id: str) -> _Trace:
        return self.traces.setdefault(turn_id, _Trace())

    # --- events ----------------------------------------------------------------------------
    def _bind(self, sio: socketio.AsyncClient) -> None:
        sio.on("audio_chunk", self._on_audio)
        sio.on("turn_restarted", self._on_restarted)
        sio.on("turn_audio_complete", self._on_complete)
        sio.on("error", self._on_error)
        sio.on("hq_audio_ready", self._on_hq)
        sio.on("transcription_final", lambda d: self._on_final("final", d))
        sio.on("transcription_rejected", lambda d: self._on_final("rejected", d))
        sio.on("prosody_analysis", lambda d: self.prosody.append(str(d.get("transcription_id"))))

    def _on_audio(self, data: dict[str, Any]) -> None:
        trace = self.trace(data["turn_id"])
        if data.get("mode", "fast") != "fast":
            return
        seq = int(data["seq"])
        if seq in trace.seqs:
            trace.duplicates += 1
        trace.seqs.add(seq)
        trace.changed.set()

    def _on_restarted(self, data: dict[str, Any]) -> None:
        trace = self.trace(data["turn_id"])
        generation = int(data.get("generation") or 1)
        if generation > trace.generation:
            trace.generation, trace.seqs, trace.complete = generation, set(), None
            trace.restarts += 1
        trace.changed.set()

    def _on_complete(self, data: dict[str, Any]) -> None:
        trace = self.trace(data["turn_id"])
        trace.complete = data
        trace.changed.set()

    def _on_error(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict) or data.get("seq") is not None:
            return  # a sentence's error: its turn_audio_complete counts it as failed
        if data.get("mode") == "hq" or data.get("event") == "prosody_analysis":
            # A notice about a side lane (the HQ replay, the prosody report): the turn goes on.
            self.side_errors.append(f"{'hq' if data.get('mode') == 'hq' else 'prosody'}: {data.get('code')}")
            return
        if data.get("turn_id"):
            trace = self.trace(data["turn_id"])
            trace.error = data
            trace.changed.set()
        elif data.get("utterance_id"):  # the utterance could not be transcribed: no turn
            self._on_final("failed", data)

    def _on_hq(self, data: dict[str, Any]) -> None:
        self.trace(data["turn_id"]).hq_ready += 1

    def _on_final(self, kind: str, data: dict[str, Any]) -> None:
        self.finals.append({"kind": kind, **(data if isinstance(data, dict) else {})})
        self.spoken_event.set()

    # --- the socket ------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self.sio is not None and self.sio.connected

    async def connect(self, deadline: float) -> bool:
        """Connect (again), retrying until ``deadline`` (monotonic): a restarting API refuses,
        and right after an API crash admission may still count the dead sockets' slots."""
        while time.monotonic() < deadline:
            await self.close()
            sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
            self._bind(sio)
            try:
                await sio.connect(self.base_url, auth={"session_id": self.session_id, "token": self.token},
                                  transports=["websocket"], wait_timeout=10)
            except (socketio.exceptions.ConnectionError, OSError, asyncio.TimeoutError):
                await _discard(sio)
                await asyncio.sleep(0.5)
                continue
            self.sio = sio
            self.connects += 1
            return True
        return False

    async def close(self) -> None:
        if self.sio is not None:
            await _discard(self.sio)
            self.sio = None

    async def set_mode(self, mode: str) -> None:
        assert self.sio is not None
        ack = await self.sio.call("set_tts_mode", {"mode": mode}, timeout=ACK_TIMEOUT_S)
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"set_tts_mode refused: {ack!r}")

    async def resume(self, since_turn: int = 0) -> list[dict[str, Any]] | None:
        if not self.connected:
            return None
        assert self.sio is not None
        try:
            ack = await self.sio.call("resume", {"since_turn": since_turn}, timeout=ACK_TIMEOUT_S)
        except (socketio.exceptions.SocketIOError, asyncio.TimeoutError):
            return None
        return ack.get("turns") if isinstance(ack, dict) and ack.get("ok") else None

    # --- one turn --------------------------------------------------------------------------
    async def typed_turn(self, record: TurnRecord, timeout_s: float) -> TurnRecord:
        deadline = record.sent_at + timeout_s
        if not self.connected and not await self._reconnect(record, deadline):
            return self._end(record, HUNG, "could not connect within the turn timeout")
        assert self.sio is not None
        try:
            ack = await self.sio.call("user_message", {"text": record.text}, timeout=ACK_TIMEOUT_S)
        except (socketio.exceptions.SocketIOError, asyncio.TimeoutError) as exc:
            # No ack: the API died (or stalled) with the message in hand. Did it store it?
            if not await self._reconnect(record, deadline):
                return self._end(record, HUNG, f"no ack ({type(exc).__name__}) and no reconnect")
            turns = await self.resume(self.last_number)
            mine = [t for t in turns or [] if t.get("user_input") == record.text]
            if not mine:
                if turns is None:
                    return self._end(record, HUNG, "no ack, resume unanswered")
                return self._end(record, ERROR, "NO_ACK: the socket failed before the ack and "
                                 "the message was not stored")
            record.turn_id, record.turn_number = str(mine[0]["turn_id"]), int(mine[0]["turn_number"])
            return await self._follow(record, deadline)
        if not isinstance(ack, dict) or not ack.get("ok"):
            error = (ack or {}).get("error") if isinstance(ack, dict) else None
            code = (error or {}).get("code") if isinstance(error, dict) else None
            if isinstance(error, dict) and error.get("turn_id"):
                record.turn_id = str(error["turn_id"])
            return self._end(record, ERROR, f"refused: {code or ack!r}")
        record.turn_id, record.turn_number = str(ack["turn_id"]), int(ack["turn_number"])
        return await self._follow(record, deadline)

    async def spoken_turn(self, record: TurnRecord, pcm: Any, timeout_s: float) -> TurnRecord:
        """Stream an utterance as microphone frames; the ``asr`` lane starts the turn and
        ``transcription_final`` names it."""
        deadline = record.sent_at + timeout_s
        if not self.connected and not await self._reconnect(record, deadline):
            return self._end(record, HUNG, "could not connect within the turn timeout")
        assert self.sio is not None
        seen = len(self.finals)
        self.spoken_event.clear()
        try:
            await stream_realtime(self.sio.emit, pcm)
        except socketio.exceptions.SocketIOError:
            pass  # the socket dropped mid-utterance: look for the turn below
        given_up_at: float | None = None
        while time.monotonic() < deadline and len(self.finals) == seen:
            if not self.connected:
                # The API died mid-utterance: its VAD state went with it. After a reconnect
                # the database says whether the asr lane started a turn from what it had.
                if not await self._reconnect(record, deadline):
                    break
                given_up_at = time.monotonic() + NO_FINAL_GRACE_S
            if given_up_at is not None:
                turns = await self.resume(self.last_number)
                if turns:
                    newest = turns[-1]
                    record.turn_id, record.turn_number = str(newest["turn_id"]), int(newest["turn_number"])
                    record.text = str(newest.get("user_input") or "")
                    return await self._follow(record, deadline)
                if turns is not None and time.monotonic() > given_up_at:
                    return self._end(record, ERROR, "NO_FINAL: the socket failed mid-utterance and no "
                                     f"turn was stored within {NO_FINAL_GRACE_S:g} s")
            self.spoken_event.clear()
            try:
                await asyncio.wait_for(self.spoken_event.wait(), min(3.0, max(0.1, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                pass
        if len(self.finals) > seen:
            final = self.finals[seen]
            if final["kind"] == "rejected":
                return self._end(record, ERROR, f"transcription_rejected: {final.get('reason')}")
            if final["kind"] == "failed":
                return self._end(record, ERROR, f"transcription failed: {final.get('code')}")
            record.turn_id, record.text = str(final["turn_id"]), str(final.get("text") or "")
            return await self._follow(record, deadline)
        return self._end(record, HUNG, "no transcription_final or _rejected within the turn timeout")

    async def _reconnect(self, record: TurnRecord, deadline: float) -> bool:
        if self.connected:
            return True
        record.reconnects += 1
        return await self.connect(deadline)

    async def _follow(self, record: TurnRecord, deadline: float) -> TurnRecord:
        """Until the turn's terminal event, or a reconnect's ``resume`` settles it."""
        assert record.turn_id is not None
        trace = self.trace(record.turn_id)
        while True:
            verdict = self._verdict(trace)
            if verdict is not None:
                outcome, reason = verdict
                if outcome == LOST and record.reconnects:  # events went missing with the socket
                    settled = await self._from_database(record)
                    if settled is not None:
                        return self._end(record, *settled, via_resume=True)
                return self._end(record, outcome, reason)
            if time.monotonic() >= deadline:
                return self._end(record, HUNG, "nothing terminal within the turn timeout")
            if not self.connected:
                if not await self._reconnect(record, deadline):
                    return self._end(record, HUNG, "socket dropped; no reconnect within the turn timeout")
                settled = await self._from_database(record)
                if settled is not None and settled[0] != "open":
                    return self._end(record, *settled, via_resume=True)
            trace.changed.clear()
            try:
                await asyncio.wait_for(trace.changed.wait(), min(3.0, max(0.05, deadline - time.monotonic())))
            except asyncio.TimeoutError:
                if record.reconnects:  # after a reconnect, events emitted meanwhile are gone: ask
                    settled = await self._from_database(record)
                    if settled is not None and settled[0] != "open":
                        return self._end(record, *settled, via_resume=True)

    @staticmethod
    def _verdict(trace: _Trace) -> tuple[str, str] | None:
        if trace.error is not None:
            return ERROR, f"error event: {trace.error.get('code')}"
        done = trace.complete
        if done is None:
            return None
        chunks, failed = int(done.get("chunks") or 0), int(done.get("failed") or 0)
        if failed:
            return ERROR, f"turn_audio_complete with {failed} of {chunks} sentence(s) failed"
        missing = sorted(set(range(chunks)) - trace.seqs)
        if missing:
            return LOST, f"turn_audio_complete but no audio_chunk for seq {missing[:5]}"
        return COMPLETED, ""

    async def _from_database(self, record: TurnRecord) -> tuple[str, str] | None:
        """The turn as ``resume`` reports it: (outcome, reason), ("open", status), or None."""
        turns = await self.resume(max(0, (record.turn_number or 1) - 1))
        row = next((t for t in turns or [] if str(t.get("turn_id")) == record.turn_id), None)
        if row is None:
            return None
        record.turn_number = int(row["turn_number"])
        status = row.get("status")
        if status in OPEN:
            return "open", str(status)
        if status == "error":
            return ERROR, f"stored as error: {row.get('error_code')}"
        if status == "completed":
            chunks = int((row.get("latency") or {}).get("chunks") or 0)
            fast = {a["seq"] for a in row.get("audio") or [] if a.get("mode") == "fast"}
            missing = sorted(set(range(chunks)) - fast)
            if missing:
                return LOST, f"stored completed but no fast audio row for seq {missing[:5]}"
            return COMPLETED, ""
        return ERROR, f"stored as {status}"

    def _end(self, record: TurnRecord, outcome: str, reason: str, *, via_resume: bool = False) -> TurnRecord:
        record.outcome, record.reason, record.via_resume = outcome, reason, via_resume
        record.ended_at = time.monotonic()
        if record.turn_id:
            trace = self.trace(record.turn_id)
            record.duplicates, record.restarts = trace.duplicates, trace.restarts
        if record.turn_number:
            self.last_number = max(self.last_number, record.turn_number)
        return record


async def _discard(sio: socketio.AsyncClient) -> None:
    """Disconnect and release the client's HTTP session (a failed connect keeps one open)."""
    try:
        await sio.shutdown()
    except Exception:  # already gone
        pass
    http = getattr(sio.eio, "http", None)  # engine.io keeps it after a failed or dropped connection
    if http is not None and not http.closed:
        await http.close()


async def start_resynthesis(http: httpx.AsyncClient, base_url: str, session_id: str) -> dict[str, Any]:
    """A batch re-synthesis of a session's turns in HQ (the ``batch`` lane)."""
    try:
        response = await http.post(f"{base_url}/api/v1/resynthesis", json={"session_id": session_id, "mode": "hq"})
    except httpx.HTTPError as exc:
        return {"job_id": None, "status": f"not started ({type(exc).__name__})"}
    if response.status_code != 202:
        return {"job_id": None, "status": f"not started (HTTP {response.status_code})"}
    return {"job_id": response.json().get("job_id"), "status": "queued"}


async def resynthesis_state(http: httpx.AsyncClient, base_url: str, job_id: str) -> dict[str, Any]:
    try:
        response = await http.get(f"{base_url}/api/v1/resynthesis/{job_id}")
    except httpx.HTTPError as exc:
        return {"status": f"unreadable ({type(exc).__name__})"}
    return response.json() if response.status_code == 200 else {"status": f"HTTP {response.status_code}"}
