"""Typed turns, several sessions: where first audio's time goes as a new user first meets it.

The ``tiny`` profile (its tiny random Qwen2 on the in-process ``transformers`` engine) with the
``lite`` voice tiers (``AVATAR_TTS_FAST_ENGINE=lite AVATAR_TTS_HQ_ENGINE=lite_hq``), each lane
at the profile's own concurrency (``llm`` 2 prefork processes, ``tts_fast`` 1), the real API,
Redis, SQLite. N sessions send typed messages back to back (closed loop: the next message as
soon as the previous turn's ``turn_audio_complete`` arrives). Each turn's time to first audio is
split by the workers' own figures: the reply job's wait for an ``llm`` process
(``turn_started.queue_ms``), sentence 0's wait for a ``tts_fast`` process and its synthesis
(its ``audio_chunk``'s ``queue_ms`` and ``synthesis_ms``).

Usage::

    python -m bench.typed [--sessions 1,5] [--turns 10] [--out docs/benchmarks.md]

Writes the ``bench:typed`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.load import LevelResult, run_level
from bench.overhead import _levels
from bench.report import fmt_ms, machine_info, percentile, write_section

SECTION = "typed"
ENGINES = {"AVATAR_TTS_FAST_ENGINE": "lite", "AVATAR_TTS_HQ_ENGINE": "lite_hq"}
TURN_TIMEOUT_S = 120.0


def measure(base_url: str, sessions: list[int], turns: int) -> list[LevelResult]:
    async def levels() -> list[LevelResult]:
        warm = await run_level(base_url, 1, 0.0, TURN_TIMEOUT_S, turns=2, label="warm-up")
        if warm.failures:
            raise RuntimeError(f"warm-up failed: {warm.failures[0]}")
        done = []
        for count in sessions:
            print(f"{count} session(s) x {turns} typed turns, back to back ...", flush=True)
            done.append(await run_level(base_url, count, 0.0, TURN_TIMEOUT_S, turns=turns, label="typed"))
        return done

    return asyncio.run(levels())


def render(levels: list[LevelResult], machine: dict[str, str], command: str, wall_s: float,
           lanes: dict[str, int]) -> str:
    def cell(values: list[float | None]) -> str:
        xs = [v for v in values if v is not None]
        return f"{fmt_ms(percentile(xs, 50))} / {fmt_ms(percentile(xs, 95))}"

    header = "| ms, median / P95 | " + " | ".join(f"{lv.sessions} session(s)" for lv in levels) + " |"
    rows = [
        ("**time to first audio** (client)", lambda lv: [r.ttfa_ms for r in lv.results]),
        ("time to first token (client)", lambda lv: [r.ttft_ms for r in lv.results]),
        ("of which the reply job waiting for an `llm` process (`turn_started.queue_ms`)",
         lambda lv: [r.llm_queue_ms for r in lv.results]),
        ("sentence 0 waiting for a `tts_fast` process (its `queue_ms`)", lambda lv: [r.speech_queue_ms for r in lv.results]),
        ("sentence 0's `lite` synthesis (its `synthesis_ms`)", lambda lv: [r.synthesis_ms for r in lv.results]),
        ("turn total (to `turn_audio_complete`)", lambda lv: [r.total_ms for r in lv.results]),
    ]
    lines = [
        f"<!-- bench:{SECTION}:start -->",
        "## Typed turns, several sessions (`python -m bench.typed`): tiny profile, `lite` voice tiers",
        "",
        "> **Tiny random models, measured here**: the figures show where the orchestration spends a turn's "
        "time as a new user first meets it (`AVATAR_PROFILE=tiny`, `AVATAR_TTS_FAST_ENGINE=lite "
        "AVATAR_TTS_HQ_ENGINE=lite_hq`), nothing about a real model's speed.",
        "",
        f"Command: `{command}` (the whole run took {wall_s:.0f} s). Machine: {machine.get('CPU', '')}, "
        f"{machine.get('Cores', '')} cores, {machine.get('RAM', '')}; {machine.get('Date', '')}; load average "
        f"at start {machine.get('Load average at start (1/5/15 min)', 'n/a')}. Everything on this machine: the "
        f"clients, the API, the `llm` worker ({lanes['llm']} prefork processes, the profile's) and the "
        f"`tts_fast` worker ({lanes['tts_fast']}), Redis, SQLite.",
        "",
        "Load: each session sends its next typed message as soon as the previous turn's "
        "`turn_audio_complete` arrives (closed loop, no think time). The rows under the first two are the "
        "workers' own figures, parts of the rows above.",
        "",
        header,
        "| --- | " + " | ".join("---" for _ in levels) + " |",
        *(f"| {name} | " + " | ".join(cell(pick(lv)) for lv in levels) + " |" for name, pick in rows),
        "| turns measured (failed) | " + " | ".join(f"{len(lv.results)} ({len(lv.failures)})" for lv in levels) + " |",
        "| turns per second, whole system | "
        + " | ".join(f"{len(lv.results) / lv.wall_s:.2f}" if lv.wall_s else "n/a" for lv in levels) + " |",
        f"<!-- bench:{SECTION}:end -->",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.typed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=_levels, default=[1, 5], help="levels, comma-separated (default 1,5)")
    parser.add_argument("--turns", type=int, default=10, help="turns per session at every level (default 10)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    from avatar.settings import Settings
    from models.tiny import make_tiny_models
    from tests.conftest import make_system

    began = time.perf_counter()
    machine = machine_info()  # before anything starts: the load average is other people's
    root = Path(tempfile.mkdtemp(prefix="avatar-bench-typed-"))
    system = None
    try:
        make_tiny_models(root / "models", which=["llm"])
        system = make_system(root, "bench", root / "models", **ENGINES)
        system.start_api()
        system.start_worker("llm")  # the profile's concurrency, as `make up` runs it
        system.start_worker("tts_fast")
        system.wait_for_lanes("llm", "tts_fast")
        levels = measure(system.base_url, args.sessions, args.turns)
        settings = Settings(profile="tiny")
        lanes = {"llm": settings.llm_concurrency, "tts_fast": settings.tts_fast_concurrency}
    finally:
        if system is not None:
            system.stop_all()
        shutil.rmtree(root, ignore_errors=True)
    command = " ".join(["python -m bench.typed", *(argv if argv is not None else sys.argv[1:])])
    section = render(levels, machine, command, time.perf_counter() - began, lanes)
    write_section(args.out, section, name=SECTION)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
