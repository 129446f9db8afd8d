"""``python -m bench.faults`` at a tiny scale: its own Redis and PostgreSQL, ``avatar up`` on
them, 2 sessions, 3 pool-child kills, the API kill and both server restarts, a 20 s soak.
Checks that every turn sent is counted exactly once, that the section is written, and that
nothing it started is left running; no timing assertions."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.faults import FaultConfig, run_faults
from bench.faults_client import OUTCOMES

pytestmark = pytest.mark.slow


def test_faults_bench_counts_every_turn_and_writes_its_section(tmp_path: Path) -> None:
    for tool in ("redis-server", "runuser"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: the fault benchmark starts its own servers (see bench/README.md)")
    out = tmp_path / "benchmarks.md"
    out.write_text("# AVATAR benchmarks\n\n<!-- bench:overhead:start -->\nkept\n<!-- bench:overhead:end -->\n")
    config = FaultConfig(sessions=2, kills=3, fault_minutes=1.5, soak_minutes=20 / 60, turn_timeout_s=45,
                         batch_every_s=30, sample_every_s=5)
    result = run_faults(config, out, log=lambda _: None, command="python -m bench.faults (smoke)")

    faults = [r for r in result.records if r.phase == "faults"]
    assert faults, "no turn was sent in the fault phase"
    for record in result.records:
        assert record.outcome in OUTCOMES, record  # exactly one outcome each
    counted = {o: sum(1 for r in faults if r.outcome == o) for o in OUTCOMES}
    assert sum(counted.values()) == len(faults)
    assert sorted(f.kind for f in result.faults) == sorted(["child"] * 3 + ["api", "redis", "postgres"])
    assert {f.lane for f in result.faults if f.kind == "child"} == {"llm", "tts_fast", "tts_hq"}  # round-robin

    text = out.read_text()
    assert "kept" in text  # another benchmark's section is left alone
    section = text[text.index("<!-- bench:faults:start -->"):text.index("<!-- bench:faults:end -->")]
    assert "### Faults (measured here)" in section and "### Soak" in section
    total_row = next(line for line in section.splitlines() if line.startswith("| **all turns of the fault phase**"))
    cells = [c.strip() for c in total_row.strip("|").split("|")]
    turns, completed, error, hung, lost = (int(c) for c in cells[2:7])
    assert turns == len(faults) == completed + error + hung + lost
    assert result.samples, "no memory sample in the soak"
    assert result.leftovers == []  # nothing it started is left running
