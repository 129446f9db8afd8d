"""The ``cpu`` layout's sharing inputs: docs/benchmarks.md's contention section
(``python -m bench.contention``), read cell by cell, and the job kinds
(:class:`capacity.cpu_sharing.JobKind`) they make.

The benchmark's row names and mixes live in ``bench/``, which this package may not import: they
are mirrored here, and tests/capacity/test_cpu_sharing.py fails when a mirror drifts.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from avatar.settings import Settings
from capacity.bench_doc import BENCHMARKS, Cell, section_text
from capacity.cpu_sharing import JobKind, efficiency_curve, measured_efficiency
from capacity.figures import Figure

CONTENTION = "CPU contention between engine processes"
ALONE, TOGETHER = "**Alone**", "**Together**"
CFS_DOC = "https://docs.kernel.org/scheduler/sched-design-CFS.html"

# --- mirrors of bench/contention.py ----------------------------------------------------------------
ROWS = {  # the simulator's job kind -> the benchmark's row
    "prefill": "LLM prefill (time to first token)",
    "decode": "LLM decode (one token)",
    "asr_final": "ASR final, 5 s (configured beam)",
    "asr_partial": "ASR partial, 5 s (beam 1)",
}
PARTIAL_ROWS = {  # seconds of audio -> (the final's row, the partial's row), alone
    2: ("ASR final, 2 s (configured beam)", "ASR partial, 2 s (beam 1)"),
    5: ("ASR final, 5 s (configured beam)", "ASR partial, 5 s (beam 1)"),
}
MIXES = {  # input name part -> (the benchmark's mix, its processes: "llm" or an ASR kind)
    "2llm": ("2 LLM", ("llm", "llm")),
    "llm_final": ("LLM + ASR final", ("llm", "asr_final")),
    "llm_partial": ("LLM + ASR partial", ("llm", "asr_partial")),
    "voice_mix": ("2 LLM + ASR final + ASR partial", ("llm", "llm", "asr_final", "asr_partial")),
}
LLM_KINDS = ("prefill", "decode")
SINGLE_THREADED = ("prosody", "lite")


def _cell(caption: str, row: tuple[str, ...], column: str, unit: str, doc: Path) -> Figure:
    cell = Cell(CONTENTION, row, column, caption)
    return Figure(cell.value(doc), unit, "measured-here", cell.cite())


def _kinds_of(process: str) -> tuple[str, ...]:
    return LLM_KINDS if process == "llm" else (process,)


def contention_inputs(doc: Path = BENCHMARKS) -> dict[str, Figure]:
    found = re.search(r"(\d+) logical cores", section_text(CONTENTION, doc))
    if found is None:
        raise LookupError(f"{doc.name}: the {CONTENTION!r} section does not name its cores ('N logical cores')")
    threads = Settings.model_fields["asr_cpu_threads"].default
    out: dict[str, Figure] = {
        "cores": Figure(float(found.group(1)), "cores", "measured-here",
                        f"docs/benchmarks.md, {CONTENTION}, the machine line: {found.group(1)} logical cores"),
        "llm_threads": _cell(ALONE, (ROWS["prefill"],), "threads", "threads", doc),
        "asr_threads": Figure(float(threads), "threads", "setting", f"avatar/settings.py asr_cpu_threads = {threads}"),
    }
    for kind, row in ROWS.items():
        out[f"{kind}_busy_cores"] = _cell(ALONE, (row,), "busy cores", "cores", doc)
    for seconds, (final, partial) in PARTIAL_ROWS.items():
        out[f"asr_final_{seconds}s_alone_s"] = _cell(ALONE, (final,), "median (s)", "s", doc)
        out[f"asr_partial_{seconds}s_alone_s"] = _cell(ALONE, (partial,), "median (s)", "s", doc)
    for name, (mix, processes) in MIXES.items():
        for kind in dict.fromkeys(k for p in processes for k in _kinds_of(p)):
            out[f"speed_{name}_{kind}"] = _cell(TOGETHER, (mix, ROWS[kind]), "speed (alone = 1)", "× alone", doc)
    out |= {
        "sharing_rule": Figure(1, "rule", "published", f"{CFS_DOC} (the kernel's fair scheduler gives every runnable "
                               "thread of equal weight an equal share of the cores: rule 1 of capacity/cpu_sharing.py)"),
        "efficiency_rule": Figure(1, "rule", "assumption", "the efficiency of oversubscribed threads depends on how "
                                  "many threads share the cores (not on which), is the mean of the mixes measured at "
                                  "one oversubscription, runs in straight lines between those measured, and holds "
                                  "beyond the heaviest mix (rule 2 of capacity/cpu_sharing.py)"),
        "single_thread_jobs": Figure(1, "threads", "assumption", "prosody and lite compute on one thread each "
                                     "(openSMILE, Praat, espeak-ng and WORLD are single-threaded; bench.prosody times "
                                     "the analysis pinned to one core) at full efficiency: no contention row measures "
                                     "them, and they spin at no barrier"),
    }
    return out


def job_kinds(x: dict[str, float]) -> dict[str, JobKind]:
    """Every job kind of the cpu layout, its efficiency curve derived from the contention rows.

    In each mix, the job's partners are the mix's other processes; an LLM partner counts as
    decoding (39 of its 40 tokens are decode steps).
    """
    threads = {"prefill": x["llm_threads"], "decode": x["llm_threads"],
               "asr_final": x["asr_threads"], "asr_partial": x["asr_threads"]}
    base = {kind: JobKind(threads[kind], x[f"{kind}_busy_cores"]) for kind in ROWS}
    base |= {kind: JobKind(x["single_thread_jobs"], x["single_thread_jobs"]) for kind in SINGLE_THREADED}
    partner = {"llm": base["decode"], "asr_final": base["asr_final"], "asr_partial": base["asr_partial"]}
    rows: dict[str, list[tuple[float, float]]] = {kind: [] for kind in ROWS}
    for name, (_, processes) in MIXES.items():
        for i, process in enumerate(processes):
            if process in processes[:i]:
                continue  # a mix's two LLM processes are one row
            others = [partner[p] for j, p in enumerate(processes) if j != i]
            for kind in _kinds_of(process):
                rows[kind].append(measured_efficiency(base[kind], others, x[f"speed_{name}_{kind}"], x["cores"]))
    return {kind: dataclasses.replace(job, efficiency=efficiency_curve(rows.get(kind, ()))) for kind, job in base.items()}


__all__ = ["ALONE", "CONTENTION", "MIXES", "PARTIAL_ROWS", "ROWS", "TOGETHER", "contention_inputs", "job_kinds"]
