"""bench.prosody writes its own section of docs/benchmarks.md and leaves the others alone."""

from __future__ import annotations

from pathlib import Path

from bench.prosody import render
from bench.report import SECTION_END, SECTION_START, write_section


def test_prosody_section_replaces_only_itself(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    write_section(out, f"{SECTION_START}\noverhead figures\n{SECTION_END}\n")
    analysis = {"audio_s": 10.0, "total": [0.6, 0.7], "cpu": [0.3, 0.4], "praat": [0.2], "egemaps": [0.1]}
    for events in ([0.5, 0.6], [2.0, 2.5]):
        write_section(out, render({"CPU": "test"}, analysis, events, "python -m bench.prosody"), name="prosody")
    text = out.read_text()
    assert "overhead figures" in text
    assert text.count("<!-- bench:prosody:start -->") == 1 and text.count("<!-- bench:prosody:end -->") == 1
    assert "| whole analysis, CPU time | 2 | 0.350 | 0.395 | <= 0.5 meets |" in text
    assert "| end of utterance → event | 2 | 2.250 | 2.475 | <= 1.5 misses |" in text
