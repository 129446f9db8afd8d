"""The sensitivity table: each input at -50 % / +50 %, one at a time."""

from __future__ import annotations

from capacity.figures import FIGURES
from capacity.sensitivity import render_markdown, sensitivity


def test_an_input_the_layout_does_not_use_leaves_sessions_unchanged() -> None:
    # single-4090-2fast runs ASR on the GPU: the CPU ASR time cannot matter to it.
    (row,) = sensitivity("single-4090-2fast", minutes=5, names=["asr_cpu_2core_s"])
    assert row.low == row.base == row.high > 0 and row.spread == 0


def test_a_faster_engine_never_costs_sessions_and_a_slower_one_never_adds_them() -> None:
    (row,) = sensitivity("single-4090", minutes=5, names=["tts_fast_rtf"])  # the bottleneck's own time
    assert row.low > row.base > row.high


def test_the_markdown_table_has_a_row_per_figure() -> None:
    rows = sensitivity("single-4090", minutes=5, names=["asr_cpu_2core_s", "tts_fast_rtf"])
    table = render_markdown(rows, "single-4090")
    assert table.splitlines()[2].startswith("| `tts_fast_rtf` | published | 0.15 RTF |")  # largest effect first
    cpu_asr = FIGURES["asr_cpu_2core_s"]
    assert f"| `asr_cpu_2core_s` | {cpu_asr.kind} | {cpu_asr.value:g} {cpu_asr.unit} |" in table
