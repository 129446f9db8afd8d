"""Faults counted under load: SIGKILLs of every lane's pool children, an API kill, a restart
of Redis and of PostgreSQL, while 5 sessions talk in a closed loop; then a soak with every
process's memory sampled.

The benchmark starts its own Redis server and PostgreSQL server on their own ports
(:mod:`bench.faults_infra`) and ``avatar up`` on them (:mod:`bench.faults_stack`). Each
session (:mod:`bench.faults_client`) sends its next message when the previous turn ended,
in TTS mode ``both`` (the fast tier speaks, the HQ lane renders the turn); every few turns
it speaks instead of typing (microphone frames: the ``asr`` and ``prosody`` lanes), and a
batch re-synthesis of a session now and then keeps the ``batch`` lane busy. Every turn is
counted as completed with all audio, ended with a clear error, hung or lost, plus
duplicates; the database is read after the run to cross-check.

Usage::

    python -m bench.faults [--sessions 5] [--kills 100] [--fault-minutes 10] [--soak-minutes 30]
                           [--turn-timeout 120] [--skip-soak] [--out docs/benchmarks.md]

The results replace only the part of ``--out`` between the ``bench:faults`` markers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from avatar.domain import LANES
from bench.client import Interrupted, unless_stopped
from bench.config import DEFAULT_OUT
from bench.faults_client import COMPLETED, FaultSession, TurnRecord, resynthesis_state, start_resynthesis
from bench.faults_db import cross_check
from bench.faults_infra import memory
from bench.faults_render import render_section
from bench.faults_stack import Stack
from bench.overhead import _signals_to, _StopRequest
from bench.report import machine_info, write_section
from cli.chat_client import owner_headers
from tests.speech_audio import espeak_16k, with_silences

Log = Callable[[str], None]
CHILD_KILL, API_KILL, REDIS_RESTART, PG_RESTART = "child", "api", "redis", "postgres"


@dataclass
class FaultConfig:
    sessions: int = 5
    kills: int = 100
    fault_minutes: float = 10.0
    soak_minutes: float = 30.0
    turn_timeout_s: float = 120.0
    spoken_every: int = 5  # every 5th turn of a session is spoken
    batch_every_s: float = 60.0
    redis_down_s: float = 3.0
    sample_every_s: float = 10.0
    api_kill: bool = True
    redis_restart: bool = True
    pg_restart: bool = True
    seed: int = 16

    @property
    def soak_s(self) -> float:
        return self.soak_minutes * 60

    def windows(self) -> tuple[float, float]:
        """(warm-up, comparison window) in seconds: 5 and 5 minutes of a 30-minute soak, a
        sixth of a shorter one each."""
        return min(300.0, self.soak_s / 6), min(300.0, self.soak_s / 6)


@dataclass
class Fault:
    kind: str
    at: float  # monotonic
    detail: str
    lane: str = ""
    ok: bool = True


@dataclass
class RunResult:
    config: FaultConfig
    machine: dict[str, str]
    records: list[TurnRecord] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    # (label, pid) -> [(monotonic, RSS kB, PSS kB, RssAnon kB)]
    samples: dict[tuple[str, int], list[tuple[float, int, int | None, int | None]]] = field(default_factory=dict)
    soak_started: float = 0.0
    soak_ended: float = 0.0
    phase_s: dict[str, float] = field(default_factory=dict)
    batch_jobs: list[dict[str, Any]] = field(default_factory=list)
    db: dict[str, Any] = field(default_factory=dict)
    hq_ready: int = 0
    prosody_events: int = 0
    side_errors: dict[str, int] = field(default_factory=dict)  # HQ / prosody error notices
    redis_info: dict[str, dict[str, str]] = field(default_factory=dict)
    leftovers: list[int] = field(default_factory=list)
    program_exits: list[str] = field(default_factory=list)  # supervisord's "exited:" lines
    stack_info: dict[str, str] = field(default_factory=dict)
    command: str = ""
    wall_s: float = 0.0


def fault_plan(config: FaultConfig) -> list[tuple[float, str, str]]:
    """(seconds into the fault phase, kind, lane): the big faults at a quarter, half and three
    quarters of the phase; the child kills at random moments, at least 15 s from a big fault
    so each turn's fault is known, round-robin over the lanes."""
    rng = random.Random(config.seed)
    span = config.fault_minutes * 60
    big = [(span * 0.25, API_KILL), (span * 0.5, REDIS_RESTART), (span * 0.75, PG_RESTART)]
    big = [(t, k) for t, k in big if {API_KILL: config.api_kill, REDIS_RESTART: config.redis_restart,
                                      PG_RESTART: config.pg_restart}[k]]
    times: list[float] = []
    while len(times) < config.kills:
        t = rng.uniform(5.0, max(6.0, span - 5.0))
        if all(abs(t - b) >= 15.0 for b, _ in big) or span < 120:
            times.append(t)
    plan = [(t, CHILD_KILL, LANES[i % len(LANES)]) for i, t in enumerate(sorted(times))]
    return sorted(plan + [(t, k, "") for t, k in big])


def _inject(stack: Stack, kind: str, lane: str, rng: random.Random, redis_down_s: float) -> Fault:
    now = time.monotonic()
    if kind == CHILD_KILL:
        for _ in range(20):  # a child just killed is being replaced: wait for its successor
            kids = stack.pool_children(lane)
            if kids:
                pid = rng.choice(kids)
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
                    os.kill(pid, signal.SIGKILL)
                    return Fault(kind, now, f"pid {pid} ({Path(title).name})", lane)
                except FileNotFoundError:
                    pass
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        return Fault(kind, now, "no pool child found", lane, ok=False)
    if kind == API_KILL:
        pid = stack.programs().get("api")
        if pid is None:
            return Fault(kind, now, "api not running", ok=False)
        os.kill(pid, signal.SIGKILL)
        return Fault(kind, now, f"pid {pid}")
    if kind == REDIS_RESTART:
        stack.redis.restart(down_s=redis_down_s)
        return Fault(kind, now, f"down {time.monotonic() - now:.1f} s")
    stack.postgres.restart()
    return Fault(kind, now, f"pg_ctl restart -m fast took {time.monotonic() - now:.1f} s")


async def inject_faults(stack: Stack, config: FaultConfig, started: float, stop: asyncio.Event,
                        result: RunResult, log: Log) -> None:
    rng = random.Random(config.seed + 1)
    for offset, kind, lane in fault_plan(config):
        delay = started + offset - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except asyncio.TimeoutError:
                pass
        fault = await asyncio.to_thread(_inject, stack, kind, lane, rng, config.redis_down_s)
        if kind != CHILD_KILL:
            fault.ok = fault.ok and await asyncio.to_thread(stack.wait_healthy, 120)
        result.faults.append(fault)
        if kind != CHILD_KILL or not fault.ok:
            log(f"  fault {kind} {lane} {fault.detail} (back: {fault.ok})")


async def run_sessions(sessions: list[FaultSession], config: FaultConfig, phase: str, until: float,
                       utterance: Any, stop: asyncio.Event, result: RunResult) -> None:
    async def loop(s: FaultSession) -> None:
        n = 0
        while time.monotonic() < until and not stop.is_set():
            n += 1
            spoken = config.spoken_every > 0 and n % config.spoken_every == 0
            text = f"faults {phase} {s.index} 第 {n} 句：今天天氣如何？"
            record = TurnRecord(session=s.index, kind="spoken" if spoken else "typed", text=text,
                                phase=phase, sent_at=time.monotonic())
            if spoken:
                task = s.spoken_turn(record, utterance, config.turn_timeout_s)
            else:
                task = s.typed_turn(record, config.turn_timeout_s)
            try:
                record = await unless_stopped(task, stop)
            except Interrupted:  # Ctrl-C: the turn in flight is not counted
                return
            result.records.append(record)
            if record.outcome != COMPLETED:  # a person would not resend within the same second
                await asyncio.sleep(1.0)

    async def batches(http: httpx.AsyncClient) -> None:
        i = 0
        while time.monotonic() < until and not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), config.batch_every_s)
                return
            except asyncio.TimeoutError:
                pass
            target = sessions[i % len(sessions)]
            i += 1
            job = await start_resynthesis(http, target.base_url, target.session_id)
            result.batch_jobs.append({**job, "phase": phase, "session": target.index})

    async with httpx.AsyncClient(timeout=30, headers=sessions[0].headers) as http:
        runners = [asyncio.create_task(loop(s)) for s in sessions]
        feeder = asyncio.create_task(batches(http))
        await asyncio.gather(*runners)
        feeder.cancel()


def sample_memory(stack: Stack, result: RunResult) -> None:
    now = time.monotonic()
    for pid, label in stack.processes_to_sample().items():
        mem = memory(pid)
        if mem is not None:
            result.samples.setdefault((label, pid), []).append((now, mem.rss_kb, mem.pss_kb, mem.anon_kb))


async def sampler(stack: Stack, config: FaultConfig, until: float, stop: asyncio.Event, result: RunResult) -> None:
    while time.monotonic() < until and not stop.is_set():
        await asyncio.to_thread(sample_memory, stack, result)
        try:
            await asyncio.wait_for(stop.wait(), config.sample_every_s)
        except asyncio.TimeoutError:
            pass


async def measure(stack: Stack, config: FaultConfig, halt: asyncio.Event, result: RunResult, log: Log) -> None:
    utterance = with_silences([espeak_16k("今天天氣很好，我們去公園散步吧")], [1.0], lead_s=0.3).pcm
    async with httpx.AsyncClient(timeout=30) as http:
        headers = await owner_headers(http, stack.base_url)
        sessions = []
        for index in range(config.sessions):
            created = (await http.post(f"{stack.base_url}/api/v1/sessions", headers=headers)).raise_for_status().json()
            sessions.append(FaultSession(stack.base_url, index, created, headers))
    for s in sessions:
        if not await s.connect(time.monotonic() + 60):
            raise RuntimeError(f"session {s.index} could not connect")
        await s.set_mode("both")
    try:
        began = time.monotonic()
        until = began + config.fault_minutes * 60
        log(f"fault phase: {config.fault_minutes:g} min, {config.sessions} sessions, {config.kills} kills ...")
        injector = asyncio.create_task(inject_faults(stack, config, began, halt, result, log))
        await run_sessions(sessions, config, "faults", until, utterance, halt, result)
        await injector
        result.phase_s["faults"] = time.monotonic() - began
        if config.soak_s > 0 and not halt.is_set():
            await asyncio.to_thread(stack.wait_healthy, 120)
            result.redis_info["soak start"] = await asyncio.to_thread(stack.redis.info)
            log(f"soak: {config.soak_minutes:g} min, memory every {config.sample_every_s:g} s ...")
            result.soak_started = time.monotonic()
            until = result.soak_started + config.soak_s
            watcher = asyncio.create_task(sampler(stack, config, until, halt, result))
            await run_sessions(sessions, config, "soak", until, utterance, halt, result)
            await watcher
            await asyncio.to_thread(sample_memory, stack, result)
            result.soak_ended = time.monotonic()
            result.phase_s["soak"] = result.soak_ended - result.soak_started
            result.redis_info["soak end"] = await asyncio.to_thread(stack.redis.info)
        await asyncio.sleep(0 if halt.is_set() else 20)  # the last HQ renders and batch jobs
        async with httpx.AsyncClient(timeout=30, headers=headers) as http:
            for job in result.batch_jobs:
                if job["job_id"]:
                    job.update(await resynthesis_state(http, stack.base_url, job["job_id"]))
    finally:
        result.hq_ready = sum(t.hq_ready for s in sessions for t in s.traces.values())
        result.prosody_events = sum(len(s.prosody) for s in sessions)
        for s in sessions:
            for notice in s.side_errors:
                result.side_errors[notice] = result.side_errors.get(notice, 0) + 1
        result.db["sessions"] = [s.session_id for s in sessions]
        for s in sessions:
            await s.close()


def run_faults(config: FaultConfig, out: Path, *, log: Log = print, command: str = "python -m bench.faults",
               keep: bool = False, records: Path | None = None) -> RunResult:
    began = time.perf_counter()
    result = RunResult(config=config, machine=machine_info(), command=command)
    stack = Stack.create()
    stop = _StopRequest()
    finished = False
    with _signals_to(stop):
        try:
            stack.start(config.sessions, log)
            log(f"system up at {stack.base_url} (logs: {stack.data_dir / 'log'})")
            result.stack_info = {"redis": stack.redis.info()["version"], "postgres": stack.postgres.version,
                                 "redis_port": str(stack.redis.port), "pg_port": str(stack.postgres.port)}

            async def main() -> None:
                stop.loop, stop.event = asyncio.get_running_loop(), asyncio.Event()
                try:
                    await measure(stack, config, stop.event, result, log)
                finally:
                    stop.loop = stop.event = None

            asyncio.run(main())
            if stop.requested:
                raise KeyboardInterrupt("interrupted")
            cross_check(stack.database_url, result)
            result.program_exits = stack.program_exits()
            finished = True
        finally:
            result.leftovers = stack.stop(log)
            if result.leftovers:
                log(f"still alive after the stop: {result.leftovers}")
            if finished and not keep:
                stack.remove()
            else:
                log(f"logs kept in {stack.data_dir / 'log'}")
    result.wall_s = time.perf_counter() - began
    write_section(out, render_section(result), name="faults")
    if records is not None:
        records.write_text(json.dumps({"records": [asdict(r) for r in result.records],
                                       "faults": [asdict(f) for f in result.faults],
                                       "batch_jobs": result.batch_jobs, "db": result.db, "side_errors": result.side_errors,
                                       "program_exits": result.program_exits}, indent=1, default=str))
    log(f"wrote the faults section of {out}; the run took {result.wall_s:.0f} s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    d = FaultConfig()
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--sessions", type=int, default=d.sessions, help=f"concurrent sessions (default {d.sessions})")
    add("--kills", type=int, default=d.kills, help=f"SIGKILLs of pool children (default {d.kills})")
    add("--fault-minutes", type=float, default=d.fault_minutes, help=f"fault phase (default {d.fault_minutes:g})")
    add("--soak-minutes", type=float, default=d.soak_minutes, help=f"soak (default {d.soak_minutes:g})")
    add("--skip-soak", action="store_true", help="no soak")
    add("--turn-timeout", type=float, default=d.turn_timeout_s, help=f"seconds (default {d.turn_timeout_s:g})")
    add("--spoken-every", type=int, default=d.spoken_every, help="every Nth turn is spoken; 0: none")
    add("--batch-every", type=float, default=d.batch_every_s, help="seconds between re-synthesis jobs")
    add("--no-big-faults", action="store_true", help="only the child kills (no API kill, Redis or PostgreSQL restart)")
    add("--keep", action="store_true", help="keep the temporary directory (logs) after the run")
    add("--records", type=Path, default=None, help="also write every turn and fault as JSON here")
    add("--out", type=Path, default=DEFAULT_OUT, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    if args.sessions < 1 or args.kills < 0 or args.fault_minutes <= 0 or args.turn_timeout <= 0:
        parser.error("--sessions, --fault-minutes and --turn-timeout must be positive, --kills >= 0")
    config = FaultConfig(
        sessions=args.sessions, kills=args.kills, fault_minutes=args.fault_minutes,
        soak_minutes=0.0 if args.skip_soak else args.soak_minutes, turn_timeout_s=args.turn_timeout,
        spoken_every=args.spoken_every, batch_every_s=args.batch_every,
        api_kill=not args.no_big_faults, redis_restart=not args.no_big_faults, pg_restart=not args.no_big_faults,
    )
    given = list(argv if argv is not None else sys.argv[1:])
    shown = ["python -m bench.faults"]
    while given:  # where the output goes does not change the figures: left out of the command shown
        arg = given.pop(0)
        if arg in ("--records", "--out"):
            given = given[1:]
        elif arg != "--keep" and not arg.startswith(("--records=", "--out=")):
            shown.append(arg)
    try:
        run_faults(config, args.out, command=" ".join(shown), keep=args.keep, records=args.records)
    except KeyboardInterrupt:
        print("interrupted; everything started was stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
