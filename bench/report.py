"""The results of a run: percentiles, the machine it ran on, the verdict, and the report's own
section of ``docs/benchmarks.md`` (the markdown itself is :mod:`bench.render`)."""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from avatar.settings import Settings
from bench.config import JUDGED, PACED, TARGET_P95_MS, TARGET_SESSIONS, BenchConfig, EnginePath
from bench.load import LevelResult

SECTION_START = "<!-- bench:overhead:start -->"
SECTION_END = "<!-- bench:overhead:end -->"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), seconds; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its children (a prefork worker's pool), from /proc."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return cpu_seconds(pid) + sum(tree_cpu_seconds(int(child)) for child in children)


def fmt_ms(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f}"


def _measured(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.1f} ms"


def _first_value(path: str, key: str, sep: str = ":") -> str | None:
    """The value of the first line of ``path`` starting with ``key`` (None when unreadable)."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.lower().startswith(key.lower()):
                return line.split(sep, 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict[str, str]:
    cpu = _first_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem = _first_value("/proc/meminfo", "MemTotal:")
    ram = f"{int(mem.split()[0]) / 1024 / 1024:.1f} GiB" if mem else "unknown"
    os_name = (_first_value("/etc/os-release", "PRETTY_NAME=", "=") or platform.system()).strip('"')
    cores = os.cpu_count() or 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = cores
    info = {
        "CPU": cpu,
        "Cores": f"{cores} logical" + (f" ({usable} usable)" if usable != cores else ""),
        "RAM": ram,
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "OS": f"{os_name} (kernel {platform.release()})",
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    if hasattr(os, "getloadavg"):
        info["Load average at start (1/5/15 min)"] = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return info


@dataclass
class Report:
    config: BenchConfig
    settings: Settings
    path: EnginePath
    machine: dict[str, str]
    levels: list[LevelResult]  # every scenario's levels, in the order they ran
    command: str
    wall_s: float = 0.0  # the whole run, system start to stop included

    def levels_of(self, scenario: str) -> list[LevelResult]:
        return [lv for lv in self.levels if lv.scenario == scenario]

    def level(self, scenario: str, sessions: int) -> LevelResult | None:
        return next((lv for lv in self.levels_of(scenario) if lv.sessions == sessions), None)

    def overhead_p95(self, scenario: str, sessions: int = TARGET_SESSIONS) -> float:
        level = self.level(scenario, sessions)
        return percentile([r.overhead_ms for r in level.results], 95) if level else math.nan

    def target(self) -> tuple[str, float]:
        """("PASS"|"FAIL"|"NOT MEASURED", P95 overhead at TARGET_SESSIONS on the judged load
        model, closed loop: :data:`bench.config.JUDGED`)."""
        p95 = self.overhead_p95(JUDGED)
        if math.isnan(p95):
            return "NOT MEASURED", math.nan
        return ("PASS" if p95 <= TARGET_P95_MS else "FAIL"), p95

    def target_line(self) -> str:
        verdict, p95 = self.target()
        level = self.level(JUDGED, TARGET_SESSIONS)
        sample = f", over {above_p95(level.results)}" if level and level.results else ""
        return (f"orchestration overhead P95 <= {TARGET_P95_MS:g} ms at {TARGET_SESSIONS} sessions, "
                f"closed loop: {verdict} (measured {_measured(p95)}{sample})")

    def beside_line(self) -> str:
        level = self.level(PACED, TARGET_SESSIONS)
        flight = f", {in_flight(level):.2f} turns in flight on average" if level and level.results else ""
        return (f"conversational pacing overhead P95 at {TARGET_SESSIONS} sessions: "
                f"{_measured(self.overhead_p95(PACED))}{flight}")


def above_p95(results: Sequence[object]) -> str:
    """How big the sample behind a P95 is: "N turns, K above the P95" (K >= 1: not the maximum)."""
    n = len(results)
    return f"{n} turns, {n - 1 - math.floor((n - 1) * 0.95)} above the P95"


def in_flight(level: LevelResult) -> float:
    """Turns in flight on average (Little's law): turns/s x the mean turn (send to audio complete)."""
    rs = level.results
    if not rs or level.wall_s <= 0:
        return math.nan
    return len(rs) / level.wall_s * sum(r.total_ms for r in rs) / len(rs) / 1000.0


def write_section(out: Path, section: str, name: str = "overhead") -> None:
    """Replace the ``bench:<name>`` section of ``out`` (or add it), keeping everything else.
    ``section`` starts and ends with that section's markers."""
    section = section.rstrip("\n")
    start_marker, end_marker = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    if out.exists():
        text = out.read_text(encoding="utf-8")
        start, end = text.find(start_marker), text.find(end_marker)
        if start != -1 and end > start:
            text = text[:start] + section + text[end + len(end_marker):]
        else:
            text = text.rstrip("\n") + "\n\n" + section + "\n"
    else:
        text = (
            "# AVATAR benchmarks\n\n"
            "Each section is written by one benchmark script (`python -m bench.<name>`) between its "
            "own markers; re-running a script replaces only its section.\n\n" + section + "\n"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
