"""CPU contention between AVATAR's engines on this machine (``python -m bench.contention``): how
much each engine slows down when other engine *processes* share the cores, as the ``cpu``
profile's workers share them in ``python -m bench.voice``.

Each worker is its own process (spawned, as a Celery prefork child is its own process), loads
one engine through AVATAR's engine classes with the ``cpu`` profile's settings, and runs its
jobs back to back:

- ``llm``: the ``transformers`` engine (the torch threads an ``llm`` worker process takes: the
  lane's share of the cores, ``AVATAR_LLM_CPU_THREADS``) answering ``bench.engines``' question with a reply of ``REPLY_TOKENS`` tokens;
  its prefill (time to first token) and its decode (seconds per token) are recorded apart;
- ``final:N`` / ``partial:N``: the ``faster_whisper`` engine (``asr_cpu_threads`` threads)
  transcribing N s of audio as a final (the configured beam) or a live partial (beam 1).

A scenario starts its processes together once all have loaded and warmed up, runs them for a
fixed time and until each has finished a few jobs, and keeps the jobs that ended by then (so
every kept job ran with all the others running). Alone, each job's time and the CPU its process used give its *busy cores*
(CPU seconds / seconds); in a mix, its time against its time alone gives its *speed*. Both are
what :mod:`capacity.cpu_sharing` turns into the sharing rule of the ``cpu`` layout.

Every figure is labelled "random weights, real size, measured here": the models are
``avatar models random``'s (``MODELS``).

Usage::

    python -m bench.contention [--seconds 150] [--alone-seconds 60] [--min-runs 3] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.contention_render import render

MODELS = ("qwen2.5-0.5b-instruct", "faster-whisper-small")


@dataclass(frozen=True)
class Scenario:
    name: str
    workers: tuple[tuple[str, ...], ...]  # one process each: the jobs it cycles through
    alone: bool = False


ASR_CYCLE = ("final:2", "final:5", "partial:2", "partial:5")
SCENARIOS = (
    Scenario("LLM alone", (("llm",),), alone=True),
    Scenario("ASR alone", (ASR_CYCLE,), alone=True),
    Scenario("2 LLM", (("llm",), ("llm",))),
    Scenario("LLM + ASR final", (("llm",), ("final:5",))),
    Scenario("LLM + ASR partial", (("llm",), ("partial:5",))),
    Scenario("2 LLM + ASR final + ASR partial", (("llm",), ("llm",), ("final:5",), ("partial:5",))),
)
# The rows of the tables: an LLM job gives two (its prefill and its decode), an ASR job one.
LLM_PREFILL, LLM_DECODE = "LLM prefill (time to first token)", "LLM decode (one token)"


def job_rows(job: str) -> list[str]:
    """The table rows a job (``llm``, ``final:N``, ``partial:N``) is measured in."""
    if job == "llm":
        return [LLM_PREFILL, LLM_DECODE]
    kind, seconds = job.split(":")
    beam = "beam 1" if kind == "partial" else "configured beam"
    return [f"ASR {kind}, {seconds} s ({beam})"]


# --- the worker process --------------------------------------------------------------------------------
class _Engines:
    """The engines one worker needs, loaded once with the ``cpu`` profile's settings."""

    def __init__(self, models: dict[str, str], jobs: Sequence[str]) -> None:
        # imported in the spawned child, each engine only where its jobs need it (the parent loads none)
        import numpy as np

        from avatar.settings import Settings
        from models.real_size import REPLY_TOKENS

        self.settings = Settings(profile="cpu", llm_engine="transformers", llm_model=models["llm"],
                                 asr_model=models["asr"], llm_max_tokens=REPLY_TOKENS)
        self.reply_tokens = REPLY_TOKENS
        self.threads = {"llm": 0, "asr": self.settings.asr_cpu_threads}
        if "llm" in jobs:
            import torch

            from bench.engines import QUESTION
            from workers.engines.llm.transformers_local import TransformersLLM

            self.llm = TransformersLLM(settings=self.settings)
            self.llm.warm_up()
            self.messages = [{"role": "system", "content": self.settings.system_prompt},
                             {"role": "user", "content": QUESTION}]
            self.threads["llm"] = torch.get_num_threads()
        if any(job != "llm" for job in jobs):
            from workers.engines.asr.faster_whisper import FasterWhisperASR

            self.asr = FasterWhisperASR(settings=self.settings)
            self.asr.warm_up()
            rng = np.random.default_rng(0)  # the cost does not depend on the content (RandomWeights)
            self.audio = {s: (rng.standard_normal(s * 16000) * 0.05).astype(np.float32) for s in (2, 5, 10)}

    def run(self, job: str) -> dict[str, Any]:
        started, cpu0 = time.monotonic(), time.process_time()
        if job == "llm":
            first = last = cpu_first = 0.0
            count = 0
            for _ in self.llm.stream(self.messages, max_tokens=self.reply_tokens):
                last = time.monotonic()
                if not count:
                    first, cpu_first = last, time.process_time()
                count += 1
            cpu = time.process_time()
            tokens = max(1, count - 1)
            return {"job": job, "start": started, "end": last,
                    LLM_PREFILL: (first - started, cpu_first - cpu0),
                    LLM_DECODE: ((last - first) / tokens, (cpu - cpu_first) / tokens)}
        kind, seconds = job.split(":")
        self.asr.transcribe(self.audio[int(seconds)], partial=kind == "partial")
        end = time.monotonic()
        return {"job": job, "start": started, "end": end, job_rows(job)[0]: (end - started, time.process_time() - cpu0)}


def _worker(models: dict[str, str], jobs: tuple[str, ...], slot: int, done: Any, stop: Any, ready: Any, go: Any,
            results: Any) -> None:
    engines = _Engines(models, jobs)
    for job in jobs:
        engines.run(job)  # warm-up: lazy kernels, allocators
    ready.put(os.getpid())
    time.sleep(max(0.0, go.get() - time.time()))
    records, cpu0, began = [], time.process_time(), time.monotonic()
    i = 0
    while not stop.is_set():
        record = engines.run(jobs[i % len(jobs)])
        record["end_wall"] = time.time()
        records.append(record)
        i += 1
        if i % len(jobs) == 0:  # a whole cycle of its jobs done
            with done.get_lock():
                done[slot] += 1
    results.put({"jobs": jobs, "records": records, "threads": engines.threads,
                 "cpu_s": time.process_time() - cpu0, "wall_s": time.monotonic() - began})


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine since boot (/proc/stat's cpu line)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _collect(q: Any, procs: list[Any], timeout_s: float) -> list[Any]:
    """One message per process from ``q``; a process that died first is an error, not a hang."""
    import queue

    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < len(procs):
        try:
            got.append(q.get(timeout=1.0))
        except queue.Empty:
            dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if dead or time.monotonic() > deadline:
                raise RuntimeError(f"a worker process failed (exit codes {dead})" if dead else
                                   f"the workers did not answer within {timeout_s:.0f} s") from None
    return got


def run_scenario(scenario: Scenario, models: dict[str, str], seconds: float, min_runs: int = 1,
                 log: Any = print) -> dict[str, Any]:
    """Start the scenario's processes, wait until all are warm, run them together for ``seconds``
    and until each has gone ``min_runs`` times through its jobs; keep the jobs that ended by then (each ran
    beside every other process the whole time)."""
    ctx = multiprocessing.get_context("spawn")
    ready, go, results, stop = ctx.Queue(), ctx.Queue(), ctx.Queue(), ctx.Event()
    done = ctx.Array("i", len(scenario.workers))
    procs = [ctx.Process(target=_worker, args=(models, jobs, slot, done, stop, ready, go, results), daemon=True)
             for slot, jobs in enumerate(scenario.workers)]
    for p in procs:
        p.start()
    try:
        _collect(ready, procs, 900)
        load_before = os.getloadavg()
        start_at = time.time() + 0.5
        for _ in procs:
            go.put(start_at)
        time.sleep(0.5)
        busy0 = _busy_jiffies()
        while time.time() < start_at + seconds or min(done[:]) < min_runs:
            if any(p.exitcode not in (None, 0) for p in procs):
                raise RuntimeError(f"a worker process of {scenario.name!r} failed")
            time.sleep(0.2)
        window_end = time.time()
        stop.set()
        busy1 = _busy_jiffies()
        out = _collect(results, procs, 900)
    finally:
        stop.set()
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.terminate()
    for worker in out:  # a job still running when the window closed ran partly alone: dropped
        worker["records"] = [r for r in worker["records"] if r["end_wall"] <= window_end]
    machine_busy = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]) * (os.cpu_count() or 1)
    ours = sum(w["cpu_s"] / w["wall_s"] for w in out if w["wall_s"] > 0)
    log(f"  {scenario.name}: {sum(len(w['records']) for w in out)} jobs in {window_end - start_at:.0f} s")
    return {"name": scenario.name, "workers": out, "load_before": load_before, "window": (start_at, window_end),
            "load_after": os.getloadavg(), "machine_busy_cores": machine_busy, "our_busy_cores": ours}


# --- figures ----------------------------------------------------------------------------------------------
def row_samples(result: dict[str, Any]) -> dict[str, list[tuple[float, float]]]:
    """Row name -> [(seconds, CPU seconds)] over every kept job of the scenario."""
    rows: dict[str, list[tuple[float, float]]] = {}
    for worker in result["workers"]:
        for record in worker["records"]:
            for row in job_rows(record["job"]):
                rows.setdefault(row, []).append(record[row])
    return rows


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Alone: each row's time, P95, CPU and busy cores. Mixes: each row's speed against alone."""
    from bench.report import percentile  # not at the top: every spawned child imports this module

    def stats(samples: list[tuple[float, float]]) -> dict[str, float]:
        times, cpus = [s for s, _ in samples], [c for _, c in samples]
        return {"runs": len(samples), "median": percentile(times, 50), "p95": percentile(times, 95),
                "cpu": percentile(cpus, 50), "busy": sum(cpus) / sum(times) if sum(times) > 0 else float("nan")}

    alone: dict[str, dict[str, float]] = {}
    for result in results:
        if any(s.name == result["name"] and s.alone for s in SCENARIOS):
            threads = {job: _threads(w) for w in result["workers"] for job in w["jobs"]}
            alone |= {row: {**stats(samples), "threads": threads[job], "machine": result["machine_busy_cores"],
                            "ours": result["our_busy_cores"]}
                      for job in threads for row, samples in row_samples(result).items() if row in job_rows(job)}
    mixes = []
    for result in results:
        if any(s.name == result["name"] and s.alone for s in SCENARIOS):
            continue
        threads = sum(_threads(w) for w in result["workers"])
        for row, samples in row_samples(result).items():
            s = stats(samples)
            base = alone.get(row, {}).get("median", float("nan"))
            mixes.append({"mix": result["name"], "row": row, "threads": threads, **s, "speed": base / s["median"],
                          "machine": result["machine_busy_cores"], "ours": result["our_busy_cores"]})
    return {"alone": alone, "mixes": mixes}


def _threads(worker: dict[str, Any]) -> int:
    """The threads a worker's engine computes with (the LLM's torch threads, or Whisper's)."""
    return worker["threads"]["llm"] if "llm" in worker["jobs"] else worker["threads"]["asr"]


def threads_of(results: list[dict[str, Any]]) -> dict[str, int]:
    """Engine -> its threads, as the workers reported them."""
    found: dict[str, int] = {}
    for result in results:
        for worker in result["workers"]:
            found["llm" if "llm" in worker["jobs"] else "asr"] = _threads(worker)
    return found


def render_results(results: list[dict[str, Any]], machine: dict[str, str], command: str, wall_min: float) -> str:
    """The section for ``results`` (:mod:`bench.contention_render`)."""
    ran = {r["name"] for r in results}
    return render(summarise(results), threads_of(results), {r["name"]: r["load_before"] for r in results},
                  [s.name for s in SCENARIOS if s.name not in ran], machine, command, wall_min)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=150, help="how long each mix runs")
    parser.add_argument("--alone-seconds", type=float, default=60, help="how long each engine runs alone")
    parser.add_argument("--min-runs", type=int, default=3, help="times each process goes through its jobs at least")
    parser.add_argument("--only", action="append", choices=[s.name for s in SCENARIOS], help="a scenario (repeat)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--json", type=Path, help="also write every job's record here")
    parser.add_argument("--from-json", type=Path, help="measure nothing: write the section of a --json file")
    args = parser.parse_args(argv)

    from bench.report import machine_info, write_section  # not at the top: spawned children import this module

    command = ("python -m bench.contention " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        results, machine, wall_min = saved["results"], saved["machine"], saved["wall_min"]
        command = saved["command"]
    else:
        from avatar.settings import Settings  # only when measuring (--from-json needs neither)
        from models.real_size import make_random_models

        built = make_random_models(Settings().resolved_models_dir, list(MODELS))
        models = {"llm": str(built[MODELS[0]]), "asr": str(built[MODELS[1]])}
        machine, started, results = machine_info(), time.monotonic(), []
        for scenario in [s for s in SCENARIOS if not args.only or s.name in args.only]:
            print(f"{scenario.name} ...", flush=True)
            seconds = args.alone_seconds if scenario.alone else args.seconds
            results.append(run_scenario(scenario, models, seconds, args.min_runs))
        wall_min = (time.monotonic() - started) / 60
        if args.json:
            args.json.write_text(json.dumps({"machine": machine, "command": command, "wall_min": wall_min,
                                             "results": results}, indent=1))
    section = render_results(results, machine, command, wall_min)
    write_section(args.out, section, name="contention")
    print(section)
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
