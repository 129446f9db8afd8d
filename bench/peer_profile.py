"""Where AVATAR's path to first audio spends its time, hop by hop.

Every stage records the unix time it passed each hop of a turn's first sentence in the turn's
``path`` hash (:meth:`avatar.turns.state.TurnState.path`); the client adds the moment it sent the
message and the moment the first audio chunk arrived. All processes run on one machine, so one
clock serves them all. Consecutive stamps give the hops, which sum to the client's time to first
audio exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.client import TurnResult
from bench.report import percentile


@dataclass(frozen=True)
class Hop:
    start: str  # the stamp the hop starts at ("sent": the client's t0)
    end: str  # ... and ends at ("arrived": seq 0 at the client)
    what: str  # what happens in between, in words
    engine: str = ""  # the settings attribute of the engine's own (fixed) share, if any
    engine_factor: str = ""  # "tokens-1": that share is (k - 1) x the per-token delay


# In path order: each hop starts where the previous one ended.
HOPS: tuple[Hop, ...] = (
    Hop("sent", "received", "client -> API: Socket.IO emit, websocket, the API's event loop"),
    Hop("received", "admitted", "API: session lookup and admission control (a thread, Redis; the same thread then stores the turn)"),
    Hop("admitted", "accepted", "API: the turn's row inserted (a thread, SQLite)"),
    Hop("accepted", "committed", "API: the insert committed"),
    Hop("committed", "reply_started", "reply job: Celery publish -> Redis -> `llm` worker picks it up"),
    Hop("reply_started", "context_read", "`llm` worker: the turn and its history read (SQLite)"),
    Hop("context_read", "first_token", "`llm` worker: new generation, turn_started event, engine's first token",
        engine="bench_first_token_ms"),
    Hop("first_token", "first_sentence_cut", "`llm` worker: tokens until the chunker releases sentence 0 (each handed to the token-publishing thread)",
        engine="bench_token_delay_ms", engine_factor="tokens-1"),
    Hop("first_sentence_cut", "speech_queued", "`llm` worker: the fragment made speakable, its job built"),
    Hop("speech_queued", "speech_started", "speech job: Celery publish -> Redis -> `tts_fast` worker picks it up"),
    Hop("speech_started", "synthesized", "`tts_fast` worker: voice lookup, the engine synthesises sentence 0",
        engine="bench_tts_ms"),
    Hop("synthesized", "encoded", "`tts_fast` worker: WAV encoded"),
    Hop("encoded", "published", "`tts_fast` worker: the audio_chunk message built, the sequencer's Redis script checks the barge-in flag and publishes it"),
    Hop("published", "arrived", "audio_chunk: Redis pub/sub -> API -> websocket -> client"),
)
# Off the path to first audio, shown beside it: the WAV file and the sentence's row.
OFF_PATH = Hop("published", "stored", "`tts_fast` worker: WAV file written, the sentence's row stored (after the publish)")
# Inside hops, also recorded: when the speech job's publish returned to the llm worker.
PUBLISH = Hop("speech_queued", "speech_published", "`llm` worker: the speech job's Celery publish (Redis) alone")


def stamps_of(result: TurnResult, path: dict[str, float]) -> dict[str, float]:
    return {**path, "sent": result.t0_wall, "arrived": result.first_audio_wall}


def hop_ms(stamps: dict[str, float], hop: Hop) -> float | None:
    if hop.start not in stamps or hop.end not in stamps:
        return None
    return (stamps[hop.end] - stamps[hop.start]) * 1000.0


@dataclass(frozen=True)
class HopRow:
    hop: Hop
    median_ms: float
    p95_ms: float
    engine_ms: float  # the engine's own share (0: none)
    n: int

    @property
    def overhead_ms(self) -> float:
        return self.median_ms - self.engine_ms


def profile(turns: list[dict[str, float]], engine_share: dict[str, float]) -> list[HopRow]:
    """Median and P95 of each hop over ``turns`` (each a dict of stamps); ``engine_share``: the
    engine's own ms per hop start name (see :func:`engine_shares`)."""
    rows = []
    for hop in (*HOPS, PUBLISH, OFF_PATH):
        values = [v for t in turns if (v := hop_ms(t, hop)) is not None]
        if values:
            rows.append(HopRow(hop, percentile(values, 50), percentile(values, 95),
                               engine_share.get(hop.start, 0.0) if hop in HOPS else 0.0, len(values)))
    return rows


def engine_shares(settings: object, tokens: int) -> dict[str, float]:
    """The benchmark engines' own ms inside each hop (keyed by the hop's start stamp)."""
    shares = {}
    for hop in HOPS:
        if hop.engine:
            value = float(getattr(settings, hop.engine))
            shares[hop.start] = value * (tokens - 1) if hop.engine_factor == "tokens-1" else value
    return shares
