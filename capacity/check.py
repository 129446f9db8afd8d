"""The simulator checked against reality: the ``cpu`` layout (:mod:`capacity.cpu_box`), fed only
the component rows of docs/benchmarks.md (each engine alone, and the contention benchmark's
engines sharing the cores), predicts the voice-to-voice benchmark's end of speech
-> first audio at 1, 3 and 5 sessions; the benchmark's own table says what was measured.

    python -m capacity.check          (a second: prints the comparison)

The target (issue 17, item 6): the predicted P95 within 20 % of the measured one at each level.
Nothing is fitted to the voice results: a miss is reported with what it is made of (the stages
side by side), never tuned away.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from capacity.bench_doc import BENCHMARKS, Cell
from capacity.cpu_box import Level, run_level
from capacity.cpu_derived import CpuModel
from capacity.cpu_figures import VOICE, cpu_inputs, turns_per_level, voice_column
from capacity.event_loop import percentile

TOLERANCE = 0.20
SEEDS = 10  # simulated runs per level, each as long as the measured one; their P95s are averaged
JUDGED = "**end of speech → first audio (judged)**"
STAGES = (  # (voice table row, what the simulation calls it)
    ("→ `transcription_final` (`asr` stage)", "asr"),
    ("→ first `llm_token` (`llm` stage)", "llm"),
    ("of which waiting for an `llm` worker (`turn_started.queue_ms`)", "llm_wait"),
    ("→ first `audio_chunk` (reply streams to its first sentence, `tts_fast` stage)", "tts"),
)


def _stages(level: Level) -> dict[str, list[float]]:
    return {
        "e2e": [t.first_audio for t in level.turns],
        "asr": [t.final - t.vad for t in level.turns],
        "llm": [t.first_token - t.final for t in level.turns],
        "llm_wait": [t.llm_wait for t in level.turns],
        "tts": [t.first_audio - t.first_token for t in level.turns],
    }


@dataclass(frozen=True)
class LevelCheck:
    sessions: int
    turns: int
    measured: tuple[float, float]  # end of speech -> first audio, median / P95 (s)
    predicted: tuple[float, float]  # the mean over SEEDS runs
    predicted_p95_range: tuple[float, float]
    measured_turns_s: float
    predicted_turns_s: float
    stages: dict[str, tuple[float, float]]  # stage -> (measured median, predicted median)

    @property
    def error(self) -> float:
        """The predicted P95's error relative to the measured one."""
        return self.predicted[1] / self.measured[1] - 1.0

    @property
    def within(self) -> bool:
        return abs(self.error) <= TOLERANCE


def check(doc: Path = BENCHMARKS) -> list[LevelCheck]:
    model = CpuModel(cpu_inputs(doc))
    out = []
    for sessions, turns in turns_per_level(doc).items():
        column = voice_column(sessions)
        runs = [run_level(model, sessions, turns // sessions, seed) for seed in range(1, SEEDS + 1)]
        per_run = [_stages(run) for run in runs]
        p95s = [percentile(s["e2e"], 95) for s in per_run]
        stages = {}
        for row, key in STAGES:
            measured = Cell(VOICE, (row,), column).value(doc)
            stages[key] = (measured, statistics.mean(percentile(s[key], 50) for s in per_run))
        out.append(LevelCheck(
            sessions, turns,
            (Cell(VOICE, (JUDGED,), column).value(doc), Cell(VOICE, (JUDGED,), column, part=1).value(doc)),
            (statistics.mean(percentile(s["e2e"], 50) for s in per_run), statistics.mean(p95s)),
            (min(p95s), max(p95s)),
            Cell(VOICE, ("turns per second, whole system",), column).value(doc),
            statistics.mean(len(run.turns) / run.wall_s for run in runs),
            stages,
        ))
    return out


def _pct(value: float) -> str:
    return f"{value:+.0%}".replace("-", "−")


def render_markdown(levels: list[LevelCheck]) -> str:
    lines = [
        "| Sessions | Turns | Measured median / P95 (s) | Predicted median / P95 (s) | P95 of each simulated run (s) "
        "| P95 error | Within 20 % | Turns/s measured / predicted |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
    ]
    for c in levels:
        lo, hi = c.predicted_p95_range
        lines.append(
            f"| {c.sessions} | {c.turns} | {c.measured[0]:.2f} / {c.measured[1]:.2f} | "
            f"{c.predicted[0]:.2f} / {c.predicted[1]:.2f} | {lo:.2f}–{hi:.2f} | {_pct(c.error)} | "
            f"{'yes' if c.within else '**no: MISS**'} | {c.measured_turns_s:.3f} / {c.predicted_turns_s:.3f} |")
    lines += ["", "Where the time goes, median seconds measured / predicted (the voice table's stage rows):", "",
              "| Sessions | `asr` stage | `llm` stage | of which waiting for an `llm` worker | to the first sentence's "
              "audio |", "| ---: | ---: | ---: | ---: | ---: |"]
    for c in levels:
        cells = " | ".join(f"{c.stages[key][0]:.2f} / {c.stages[key][1]:.2f}" for _, key in STAGES)
        lines.append(f"| {c.sessions} | {cells} |")
    passed = [c for c in levels if c.within]
    verdict = "PASS" if len(passed) == len(levels) else "FAIL"
    lines += ["", f"**Check: predicted P95 within 20 % of the measured one at every level: {verdict}** "
              f"({', '.join(f'{c.sessions}: {_pct(c.error)}' for c in levels)})."]
    return "\n".join(lines)


def render_sharing(doc: Path = BENCHMARKS) -> str:
    """The sharing rule's job kinds as derived from the contention rows (capacity/cpu_sharing.py)."""
    model = CpuModel(cpu_inputs(doc))
    lines = ["| Job | Threads | Busy cores alone | Efficiency at the oversubscriptions measured (threads / cores: "
             "efficiency) |", "| --- | ---: | ---: | --- |"]
    for kind, job in model.kinds.items():
        curve = "; ".join(f"{over:g}: {e:.2f}" for over, e in job.efficiency) or "1 (not measured: `single_thread_jobs`)"
        lines.append(f"| `{kind}` | {job.threads:g} | {job.busy:.2f} | {curve} |")
    return "\n".join(lines)


def render_inputs(doc: Path = BENCHMARKS) -> str:
    lines = ["| Input | Value | Kind | Source, or why it is assumed |", "| --- | ---: | --- | --- |"]
    for name, i in cpu_inputs(doc).items():
        value = "–" if i.unit == "rule" else f"{i.value:g} {i.unit}"  # a rule has no value of its own
        lines.append(f"| `{name}` | {value} | {i.kind} | {i.source.replace('|', '/')} |")
    return "\n".join(lines)


def render_text(levels: list[LevelCheck]) -> str:
    lines = ["The cpu layout's prediction against docs/benchmarks.md's voice-to-voice table (end of speech -> first "
             "audio, s)", f"{'sessions':>8}{'measured med/P95':>20}{'predicted med/P95':>20}{'P95 error':>11}  within 20 %"]
    for c in levels:
        lines.append(f"{c.sessions:>8}{c.measured[0]:>12.2f} /{c.measured[1]:>6.2f}{c.predicted[0]:>12.2f} /"
                     f"{c.predicted[1]:>6.2f}{c.error:>+11.0%}  {'yes' if c.within else 'NO (miss)'}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_text(check()))


__all__ = ["JUDGED", "LevelCheck", "SEEDS", "TOLERANCE", "check", "render_inputs", "render_markdown", "render_sharing",
           "render_text"]
