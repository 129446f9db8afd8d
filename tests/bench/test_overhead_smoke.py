"""The overhead benchmark end to end at a tiny scale: a real system, real websockets, a report.

Behaviour only: the file gets its section, its tables and finite numbers. No timing assertions
(this machine's load says nothing about the code)."""

from __future__ import annotations

import math
import random
import re
from pathlib import Path

import pytest

from avatar.settings import Settings
from bench.client import TurnResult
from bench.config import PACED, STRESS, BenchConfig, engine_path
from bench.load import Pacing
from bench.overhead import run_overhead
from bench.load import LevelResult
from bench.report import SECTION_END, SECTION_START, Report, above_p95, in_flight, write_section


def test_engine_path_replays_the_chunker_like_the_reply_worker() -> None:
    settings = Settings(_env_file=None, bench_first_token_ms=20, bench_token_delay_ms=2, bench_tts_ms=30,
                        bench_reply="好的，我來說明一下。今天台北天氣晴朗。")
    path = engine_path(settings)
    # The first fragment ends at "。" (token 5, "下。") but is only released once the next
    # speakable unit arrives, with token 6 ("今天").
    assert path.first_fragment == "好的，我來說明一下。"
    assert (path.tokens, path.released_by) == (6, "今天")
    assert path.engine_ms == 20 + 5 * 2 + 30

    short = engine_path(Settings(_env_file=None, bench_reply="你好。"))
    assert short.first_fragment == "你好。" and short.released_by == ""  # only the flush releases it
    assert short.tokens == 2


def _turn(t0: float, ttfa_ms: float, total_ms: float, audio_ms: float) -> TurnResult:
    return TurnResult(ttft_ms=10, ttfa_ms=ttfa_ms, total_ms=total_ms, overhead_ms=0,
                      server_first_token_ms=None, server_first_audio_ms=None, t0=t0, audio_ms=audio_ms)


def test_pacing_waits_for_the_reply_to_be_heard_then_a_reaction_time() -> None:
    pacing, rng = Pacing(0.5, 2.0), random.Random(1)
    # seq 0 arrives at 100.1 s and the reply plays 7.2 s: heard at 107.3 s, then 0.5..2 s
    turn = _turn(t0=100.0, ttfa_ms=100, total_ms=300, audio_ms=7200)
    sends = [pacing.next_send_at(turn, rng) for _ in range(200)]
    assert all(107.8 <= t <= 109.3 for t in sends)
    assert min(sends) < 108.0 and max(sends) > 109.1  # uniform over the whole range
    # audio that completes after it would have finished playing: the reaction counts from there
    late = _turn(t0=100.0, ttfa_ms=100, total_ms=5000, audio_ms=1000)
    assert 105.5 <= pacing.next_send_at(late, rng) <= 107.0


def test_the_p95_sample_says_how_many_turns_lie_above_it() -> None:
    turns = [_turn(t0=0.0, ttfa_ms=100, total_ms=200, audio_ms=0)] * 240
    assert above_p95(turns) == "240 turns, 12 above the P95"
    assert above_p95(turns[:15]) == "15 turns, 1 above the P95"
    assert above_p95(turns[:20]) == "20 turns, 1 above the P95"
    assert above_p95(turns[:21]) == "21 turns, 1 above the P95"


def test_the_verdict_is_the_closed_loop_at_10_sessions_and_pacing_stands_beside_it() -> None:
    closed = LevelResult(sessions=10, turns_per_session=24, scenario=STRESS, wall_s=10.0,
                         results=[_turn(t0=0.0, ttfa_ms=60 + i % 40, total_ms=400, audio_ms=0) for i in range(240)])
    for i, r in enumerate(closed.results):
        r.overhead_ms = 2.0 * (i % 40)  # 0, 2, .., 78 six times each: P95 at rank 227.05 = 74 + 0.05 x 2
    paced = LevelResult(sessions=10, turns_per_session=None, scenario=PACED, window_s=75.0, wall_s=75.0,
                        results=[_turn(t0=0.0, ttfa_ms=80, total_ms=120, audio_ms=7200) for _ in range(90)])
    report = Report(config=BenchConfig(), settings=Settings(_env_file=None), path=engine_path(Settings(_env_file=None)),
                    machine={}, levels=[closed, paced], command="python -m bench.overhead")
    assert report.target() == ("FAIL", pytest.approx(74.1))
    assert report.target_line() == ("orchestration overhead P95 <= 30 ms at 10 sessions, closed loop: FAIL "
                                    "(measured 74.1 ms, over 240 turns, 12 above the P95)")
    # 90 turns in 75 s, each 120 ms long: 0.14 turns in flight
    assert report.beside_line() == ("conversational pacing overhead P95 at 10 sessions: 0.0 ms, "
                                    "0.14 turns in flight on average")
    assert f"{in_flight(closed):.2f}" == "9.60"


def test_write_section_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_section(out, f"{SECTION_START}\nfirst\n{SECTION_END}\n")
    text = out.read_text()
    assert text.startswith("# ") and "first" in text
    out.write_text(text + "\n<!-- bench:other:start -->\nother section\n<!-- bench:other:end -->\n")
    write_section(out, f"{SECTION_START}\nsecond\n{SECTION_END}\n")
    text = out.read_text()
    assert "second" in text and "first" not in text and "other section" in text
    assert text.count(SECTION_START) == 1 and text.count(SECTION_END) == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_overhead_benchmark_writes_tables_with_finite_numbers(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nkept intro\n")
    config = BenchConfig(sessions=[1, 2], turns=3, warmup_turns=1, tts_concurrency=2, llm_concurrency=8,
                         paced_turns=2, paced_window_s=1.0, reaction_min_s=0.05, reaction_max_s=0.1)
    report = run_overhead(config, out, work_dir=tmp_path / "run", log=lambda _line: None)

    # paced, 2 sessions: both start inside the 1 s window, and the reply (several seconds of
    # audio) is still playing when it closes, so each sends exactly one message
    assert [(lv.scenario, lv.sessions, len(lv.results), lv.failures) for lv in report.levels] == [
        (STRESS, 1, 3, []), (STRESS, 2, 6, []), (PACED, 1, 2, []), (PACED, 2, 2, [])]
    assert all(r.audio_ms > 0 for lv in report.levels for r in lv.results)
    paced_one = report.level(PACED, 1)
    assert paced_one is not None and len(paced_one.pauses_s) == 1
    text = out.read_text()
    assert text.startswith("# Benchmarks\n\nkept intro\n")
    section = text[text.index(SECTION_START): text.index(SECTION_END)]
    assert "deterministic benchmark engines, not real models" in section
    # judged on the closed loop at 10 sessions, whatever levels ran: not measured here
    assert "orchestration overhead P95 <= 30 ms at 10 sessions, closed loop: NOT MEASURED" in section
    for needle in ("### Machine", "CPU", "Python", "### Configuration", "AVATAR_TASK_EVENTS",
                   "### Load models", "engine_ms =", "### Results: closed loop — the target's load model (ms)",
                   "### Results: conversational pacing — beside it, not judged (ms)", "6 turns, 1 above the P95"):
        assert needle in section

    summary = [line for line in section.splitlines() if re.match(r"\| [12] \| ", line)]
    assert len(summary) == 4  # two levels in each of the two tables
    for line in summary:
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert len(cells) == 13
        numbers = [float(c) for c in cells]
        assert all(math.isfinite(n) for n in numbers)
    for title in ("Conversational pacing", "Closed loop"):
        for label in (f"#### {title}, 1 session\n", f"#### {title}, 2 sessions\n"):
            assert label in section
            block = section.split(label, 1)[1].split("####", 1)[0]
            rows = [line for line in block.splitlines() if line.startswith("| ") and "---" not in line][1:]
            assert [r.split("|")[1].strip() for r in rows][:4] == [
                "Orchestration overhead", "Time to first token", "Time to first audio", "Total"]
            for row in rows:
                values = [float(c) for c in row.strip("|").split("|")[1:]]
                assert len(values) == 3 and all(math.isfinite(v) for v in values), row
