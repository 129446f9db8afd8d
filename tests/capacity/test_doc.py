"""docs/capacity-plan.md's generated tables say what the code computes today."""

from __future__ import annotations

from capacity.doc import DOC, SENSITIVITY_LAYOUT, SLO_P95_S, check_section, results_table, section, sources_table
from capacity.figures import FIGURES
from capacity.simulate import sessions_per_unit


def test_the_sources_and_results_tables_are_current() -> None:
    text = DOC.read_text()
    assert section(text, "sources") == sources_table(), "run: python -m capacity.doc sources"
    assert section(text, "results") == results_table(), "run: python -m capacity.doc results"


def test_the_check_against_the_voice_benchmark_is_current() -> None:
    # it reads docs/benchmarks.md: after make bench rewrites a row it reads, regenerate the page
    assert section(DOC.read_text(), "check") == check_section(), "run: python -m capacity.doc check"


def test_the_sensitivity_table_covers_every_varied_figure_at_the_current_plan() -> None:
    text = section(DOC.read_text(), "sensitivity")
    base, _ = sessions_per_unit(SENSITIVITY_LAYOUT, SLO_P95_S)
    for name, figure in FIGURES.items():
        row = next((line for line in text.splitlines() if line.startswith(f"| `{name}` |")), None)
        assert (row is not None) == figure.varied, name
        if row is not None:  # the "as planned" column is today's answer (else: python -m capacity.doc)
            assert row.split(" | ")[4] == str(base), row
