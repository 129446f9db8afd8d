"""bench.speech's "sustained" verdict per level of concurrent streams, on known figures."""

from __future__ import annotations

from bench.speech import sustained


def _level(rtt_ms: list[float], *, streams: int = 10, complete: int = 10, slowdown: float = 1.0) -> dict:
    return {"streams": streams, "rtt": rtt_ms, "complete": complete, "slowdown": slowdown}


def test_a_level_is_sustained_only_with_its_ack_p95_under_the_frame_period() -> None:
    assert sustained(_level([5.0] * 95 + [39.0] * 5)) == (True, "")
    ok, why = sustained(_level([5.0] * 90 + [49.6] * 10))
    assert not ok and why == "ack P95 49.6 ms ≥ 40 ms"


def test_a_missed_utterance_or_a_stream_behind_real_time_fails_the_level() -> None:
    ok, why = sustained(_level([5.0] * 100, complete=9, slowdown=1.2))
    assert not ok and why == "1 stream(s) missed an utterance; wall/audio 1.20 > 1.05"
