"""The ``bench:contention`` section of docs/benchmarks.md (:mod:`bench.contention`'s figures).

The tables are read cell by cell by :mod:`capacity.cpu_figures`: keep their captions, row names
and column headers as they are, or change both sides together.
"""

from __future__ import annotations

from typing import Any

HEADING = "## CPU contention between engine processes"
ALONE_CAPTION = "**Alone**"
OTHER_WORK_CORES = 0.1  # more than this much of the machine busy outside the scenario: say so
MIX_CAPTION = "**Together**"


def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def render(figures: dict[str, Any], threads: dict[str, int], loads: dict[str, tuple[float, ...]], missing: list[str],
           machine: dict[str, str], command: str, wall_min: float) -> str:
    """``figures``: :func:`bench.contention.summarise`'s; ``threads``: each engine's; ``loads``: the
    load average before each scenario run; ``missing``: the scenarios not run."""
    loads_text = "; ".join(f"{name}: {' / '.join(f'{x:.2f}' for x in load)}" for name, load in loads.items())
    lines = [
        "<!-- bench:contention:start -->",
        f"{HEADING} (`python -m bench.contention`, **random weights, real size, measured here**)",
        "",
        f"Written by `{command}` (`bench/contention.py`; the whole run took {wall_min:.1f} min). "
        f"Machine: {machine.get('CPU', '')}, {machine.get('Cores', '')} cores, {machine.get('RAM', '')}; "
        f"{machine.get('Date', '')}. Load average (1/5/15 min) before each scenario: {loads_text}.",
        "",
        "Each worker is its own process, as a Celery prefork child is, running AVATAR's engine with the `cpu` "
        "profile's settings on `avatar models random`'s Qwen2.5-0.5B-Instruct (`transformers`, bf16, "
        f"torch threads: {threads.get('llm', 'n/a')}, as an `llm` worker process runs them, the lane's share of "
        "the cores, `AVATAR_LLM_CPU_THREADS`) and Whisper small "
        f"(faster-whisper int8, `asr_cpu_threads` = {threads.get('asr', 'n/a')}), its jobs back to back: the LLM "
        "answers `bench.engines`' question (40-token reply), Whisper transcribes N s of audio as a final (the "
        "configured beam) or a live partial (beam 1). A scenario's processes start together once all are warm; only "
        "jobs that ended while all of them still ran are kept. P95 with few runs sits close to the maximum.",
        "",
    ]
    others = max((row["machine"] - row["ours"] for row in [*figures["alone"].values(), *figures["mixes"]]), default=0.0)
    if others > OTHER_WORK_CORES:
        lines += [f"**Other work shared the machine during this run** (up to {others:.2f} of its cores busy with "
                  "processes outside the scenario: *machine busy* above *ours* below). The engines' threads spin "
                  "while they wait for a core, so such work slows them far more than its share: these figures are "
                  "not the machine's own; rerun on a quiet machine.", ""]
    lines += [
        f"{ALONE_CAPTION}: one process; *threads*: its engine's (torch's for the LLM, `asr_cpu_threads` for Whisper); "
        "*busy cores* = the CPU seconds its process used / the job's seconds (on a machine busy with other work it is "
        "low: the process waited for a core; *machine busy / ours*, as below, says how much other work ran).",
        "",
        "| job | threads | runs | median (s) | P95 (s) | CPU s per job (median) | busy cores | machine busy / ours |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row, s in figures["alone"].items():
        digits = 4 if "decode" in row else 2
        lines.append(f"| {row} | {s['threads']} | {s['runs']} | {_f(s['median'], digits)} | {_f(s['p95'], digits)} | "
                     f"{_f(s['cpu'], digits)} | {_f(s['busy'])} | {_f(s['machine'])} / {_f(s['ours'])} |")
    lines += [
        "",
        f"{MIX_CAPTION}: the processes of each mix run at once; *threads* counts every process's threads "
        "(the box has 2 cores); *speed* = the job's median alone / its median here; *machine busy* is the whole "
        "machine's busy cores over the run (/proc/stat), *ours* the mix's own processes': the difference is other "
        "work on the machine.",
        "",
        "| mix | job | threads | runs | median (s) | P95 (s) | speed (alone = 1) | busy cores | machine busy / ours |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for m in figures["mixes"]:
        digits = 4 if "decode" in m["row"] else 2
        lines.append(f"| {m['mix']} | {m['row']} | {m['threads']} | {m['runs']} | {_f(m['median'], digits)} | "
                     f"{_f(m['p95'], digits)} | {_f(m['speed'])} | {_f(m['busy'])} | "
                     f"{_f(m['machine'])} / {_f(m['ours'])} |")
    if missing:
        lines += ["", f"Not run this time (`--only`): {', '.join(missing)}."]
    lines += [
        "",
        "`python -m capacity.doc` reads these tables (the `cpu` layout's sharing rule, `capacity/cpu_sharing.py`) "
        "and re-runs the simulator-versus-measurement check of docs/capacity-plan.md.",
        "<!-- bench:contention:end -->",
    ]
    return "\n".join(lines) + "\n"


__all__ = ["ALONE_CAPTION", "HEADING", "MIX_CAPTION", "render"]
