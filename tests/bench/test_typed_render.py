"""bench.typed's section from known turns: each row's median / P95, in the right column."""

from __future__ import annotations

from bench.client import TurnResult
from bench.load import LevelResult
from bench.typed import render


def _turn(ttfa: float, llm_queue: float, speech_queue: float) -> TurnResult:
    return TurnResult(ttft_ms=ttfa / 2, ttfa_ms=ttfa, total_ms=ttfa * 2, overhead_ms=0.0,
                      server_first_token_ms=None, server_first_audio_ms=None,
                      llm_queue_ms=llm_queue, speech_queue_ms=speech_queue, synthesis_ms=40.0)


def test_the_section_splits_first_audio_into_the_workers_own_figures() -> None:
    one = LevelResult(sessions=1, turns_per_session=2, results=[_turn(100, 5, 2), _turn(120, 5, 2)], wall_s=2.0)
    five = LevelResult(sessions=5, turns_per_session=1, results=[_turn(300, 150, 50)] * 5,
                       failures=["turn x: timed out"], wall_s=5.0)
    section = render([one, five], {"CPU": "cpu"}, "python -m bench.typed", 12.0, {"llm": 2, "tts_fast": 1})
    assert section.startswith("<!-- bench:typed:start -->") and section.rstrip().endswith("<!-- bench:typed:end -->")
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.strip("|").split("|")[1:]]
            for line in section.splitlines() if line.startswith("| ") and "---" not in line}
    assert rows["**time to first audio** (client)"] == ["110.0 / 119.0", "300.0 / 300.0"]
    assert rows["of which the reply job waiting for an `llm` process (`turn_started.queue_ms`)"] == [
        "5.0 / 5.0", "150.0 / 150.0"]
    assert rows["turns measured (failed)"] == ["2 (0)", "5 (1)"]
    assert rows["turns per second, whole system"] == ["1.00", "1.00"]
    assert "`llm` worker (2 prefork processes" in section
