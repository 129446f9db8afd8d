"""Ahead of the peer, side by side: AVATAR against Pipecat with the same deterministic engines.

In one run, on one machine:

- **AVATAR**: the whole system as :mod:`bench.overhead` starts it (the real API, an ``llm`` and
  a ``tts_fast`` worker, Redis, SQLite, local storage; lanes, shared models and persistence as
  deployed) with the benchmark engines;
- **Pipecat** 1.14 (``pipecat-ai`` from PyPI, in its own environment, built first when absent):
  ``bench/peer_pipecat_server.py``, a pipeline per connection behind Pipecat's own websocket
  transport, with an LLM and a TTS service that behave exactly like AVATAR's benchmark engines
  (same reply, same token times, same synthesis time and audio length), Pipecat's own sentence
  aggregation between them.

Both are driven by the same load (:func:`bench.load.run_level`) at each level, one system after
the other: N sessions **closed loop**, as the issue defines it — a session speaks again as soon
as its reply has finished playing (the reply's audio length counted from the arrival of its first
audio), no think time. Measured on the client: time to first audio (client to client), time to
first token, turns/s. AVATAR's turns also give a per-hop profile of the path to first audio
(:mod:`bench.peer_profile`), and both systems' splitters cut the same replies
(:mod:`bench.peer_splitters`).

Usage::

    python -m bench.peer [--sessions 1,5] [--turns 25] [--out docs/benchmarks.md]

Writes the ``bench:peer`` section of ``--out``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.client import TurnResult
from bench.config import DEFAULT_OUT, BenchConfig, EnginePath
from bench.load import AvatarSessions, LevelResult, Pacing, run_level
from bench.overhead import (
    Log, _levels, _signals_to, _StopRequest, benchmark_system, redis_version, run_measurement,
)
from bench.peer_client import PipecatSessions, pipecat_python, pipecat_server
from bench.peer_profile import engine_shares, profile, stamps_of
from bench.peer_render import AVATAR, PIPECAT, SECTION, SYSTEMS, TARGET_RATIO, render_section
from bench.peer_splitters import SplitterCuts, compare_splitters
from bench.report import fmt_ms, machine_info, percentile, write_section
from tests.system import free_port

# Closed loop as the issue defines it: the next message once the reply has finished playing.
PLAYED = Pacing(reaction_min_s=0.0, reaction_max_s=0.0)


@dataclass
class PeerConfig:
    sessions: list[int] = field(default_factory=lambda: [1, 5])
    turns: int = 25  # per session at every level
    warmup_turns: int = 2
    turn_timeout_s: float = 60.0
    start_spread_s: float = 0.25
    avatar: BenchConfig = field(default_factory=BenchConfig)

    def duration_s(self) -> float:
        """About how long the measurement takes (a turn cycle lasts its reply's 7.2 s of audio)."""
        return len(self.sessions) * len(SYSTEMS) * self.turns * 7.35 + 60.0


@dataclass
class PeerLevel:
    system: str
    level: LevelResult
    paths: list[dict[str, float]] = field(default_factory=list)  # AVATAR: each turn's stamps

    @property
    def results(self) -> list[TurnResult]:
        return self.level.results

    def ttfa(self, q: float) -> float:
        return percentile([r.ttfa_ms for r in self.results], q)

    def ttft(self, q: float) -> float:
        return percentile([r.ttft_ms for r in self.results], q)

    def overhead(self, q: float) -> float:
        return percentile([r.overhead_ms for r in self.results], q)

    @property
    def turns_per_s(self) -> float:
        """Turns / (first send to the end of the last reply's playback): the same span for both
        systems, whether a reply's last audio arrives at once (AVATAR) or as it plays (Pipecat)."""
        if not self.results:
            return float("nan")
        span = max(max(r.complete_at, r.playback_end) for r in self.results) - min(r.t0 for r in self.results)
        return len(self.results) / span if span > 0 else float("nan")


@dataclass
class PeerReport:
    config: PeerConfig
    settings: Any
    path: EnginePath
    machine: dict[str, str]
    levels: list[PeerLevel]
    splitters: list[SplitterCuts]
    command: str
    wall_s: float = 0.0

    def level(self, system: str, sessions: int) -> PeerLevel | None:
        return next((lv for lv in self.levels if lv.system == system and lv.level.sessions == sessions), None)

    def ratio(self, sessions: int, q: float) -> float:
        ours, theirs = self.level(AVATAR, sessions), self.level(PIPECAT, sessions)
        if ours is None or theirs is None:
            return float("nan")
        return ours.ttfa(q) / theirs.ttfa(q)

    def target(self) -> tuple[str, str]:
        """(PASS|FAIL, what was measured): median TTFA ratio <= 1.0 at every level."""
        ratios = {s: self.ratio(s, 50) for s in self.config.sessions}
        ok = all(r == r and r <= TARGET_RATIO for r in ratios.values())
        shown = ", ".join(f"{r:.2f} at {s}" for s, r in ratios.items())
        return ("PASS" if ok else "FAIL"), shown

    def profile_rows(self, sessions: int) -> list:
        ours = self.level(AVATAR, sessions)
        if ours is None:
            return []
        return profile(ours.paths, engine_shares(self.settings, self.path.tokens))


async def measure(config: PeerConfig, avatar_url: str, pipecat_url: str, engine_ms: float,
                  redis: Any, halt: Any, log: Log) -> list[PeerLevel]:
    from avatar.turns.state import TurnState

    openers = {AVATAR: AvatarSessions(avatar_url), PIPECAT: PipecatSessions(pipecat_url)}
    timeout = config.turn_timeout_s
    for system in SYSTEMS:
        warm = await run_level(avatar_url, 1, engine_ms, timeout, turns=config.warmup_turns, stop=halt,
                               label="warm-up", opener=openers[system])
        if warm.failures:
            raise RuntimeError(f"{system} warm-up failed: {warm.failures[0]}")
    levels: list[PeerLevel] = []
    for sessions in config.sessions:
        for system in SYSTEMS:
            if halt.is_set():
                return levels
            log(f"{system}: {sessions} session(s) x {config.turns} turn(s), closed loop (next once played) ...")
            level = await run_level(avatar_url, sessions, engine_ms, timeout, turns=config.turns,
                                    pacing=PLAYED, stop=halt, label=system.lower(),
                                    start_spread_s=config.start_spread_s, opener=openers[system])
            peer = PeerLevel(system, level)
            if system == AVATAR:
                peer.paths = [stamps_of(r, TurnState(redis, r.turn_id).path()) for r in level.results]
            log(f"  {len(level.results)} turns, {len(level.failures)} failed, {level.wall_s:.1f} s; "
                f"TTFA median {fmt_ms(peer.ttfa(50))} ms, P95 {fmt_ms(peer.ttfa(95))} ms; "
                f"{peer.turns_per_s:.2f} turns/s")
            levels.append(peer)
    return levels


def run_peer(config: PeerConfig, out: Path, *, log: Log = print,
             command: str = "python -m bench.peer") -> PeerReport:
    """Start both systems, measure every level, stop everything, write ``out``'s section."""
    if not config.sessions or any(s < 1 for s in config.sessions) or config.turns < 1:
        raise ValueError("session counts and turns must be positive")
    began = time.perf_counter()
    log(f"about {config.duration_s() / 60:.0f} min: {len(config.sessions)} level(s) x 2 systems x "
        f"{config.turns} turns of about 7.3 s each")
    pipecat_python(log)  # built before anything starts, so a first build is not timed
    root = Path(tempfile.mkdtemp(prefix="avatar-peer-"))
    stop = _StopRequest()
    failed = True
    try:
        with _signals_to(stop):
            machine = machine_info()  # before anything starts: the load average is other people's
            with benchmark_system(config.avatar, root, log) as bench:
                machine["Redis"] = redis_version(bench.system)
                with pipecat_server(bench.settings, root / "var" / "log", free_port(), log) as pipecat_url:
                    levels = run_measurement(stop, lambda halt: measure(
                        config, bench.base_url, pipecat_url, bench.path.engine_ms, bench.system.redis(), halt, log))
            splitters = compare_splitters(bench.settings.bench_reply, log)
        failed = False
    finally:
        if failed:
            log(f"benchmark did not finish; logs kept in {root / 'var' / 'log'}")
        else:
            shutil.rmtree(root, ignore_errors=True)

    report = PeerReport(config=config, settings=bench.settings, path=bench.path, machine=machine,
                        levels=levels, splitters=splitters, command=command)
    report.wall_s = time.perf_counter() - began
    write_section(out, render_section(report), SECTION)
    verdict, shown = report.target()
    log(f"wrote {out}; the run took {report.wall_s:.0f} s")
    log(f"target (TTFA median AVATAR/Pipecat <= {TARGET_RATIO:g} at every level): {verdict} ({shown})")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    defaults = PeerConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.peer", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--sessions", type=_levels, default=defaults.sessions, help="levels, comma-separated (default 1,5)")
    add("--turns", type=int, default=defaults.turns,
        help=f"turns per session at every level, each system (default {defaults.turns})")
    add("--warmup", type=int, default=defaults.warmup_turns, help="warm-up turns per system, not counted")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.turns < 1:
        parser.error("--turns must be at least 1")
    config = PeerConfig(sessions=args.sessions, turns=args.turns, warmup_turns=max(1, args.warmup))
    shown = ["python -m bench.peer", "--sessions", ",".join(map(str, args.sessions))]
    if args.turns != defaults.turns:
        shown += ["--turns", str(args.turns)]
    try:
        run_peer(config, args.out, command=" ".join(shown))
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
