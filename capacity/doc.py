"""Write the generated sections of docs/capacity-plan.md from the code.

    python -m capacity.doc            (about a minute: the sensitivity table runs ~700 simulations)

Each section sits between ``<!-- capacity:NAME:start -->`` and ``<!-- capacity:NAME:end -->``;
a run replaces only those, so the prose around them stays as written. ``results`` is the
sessions-per-unit table, ``sensitivity`` the ±50 % table, ``check`` the simulator against the
voice-to-voice benchmark (:mod:`capacity.check`, read from docs/benchmarks.md as it stands),
``sources`` every input with its kind and source. The chart (docs/capacity-plan.png) is drawn by ``scripts/capacity_chart.py``.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from capacity import check
from capacity.figures import FIGURES
from capacity.report import kinds_summary
from capacity.sensitivity import render_markdown, sensitivity
from capacity.simulate import LAYOUTS, sessions_per_unit

DOC = Path(__file__).resolve().parents[1] / "docs" / "capacity-plan.md"
SLO_P95_S = 3.5
MINUTES = 20.0
PLANNED_SESSIONS = (5, 20, 100)
SENSITIVITY_LAYOUT = "single-4090-2fast"  # the recommendation for a MAXER-2100


def results_table(minutes: float = MINUTES) -> str:
    lines = [
        "| Layout | Sessions per unit | " + " | ".join(f"Boxes for {n}" for n in PLANNED_SESSIONS)
        + " | Bottleneck at the limit |",
        "| --- | ---: | " + " | ".join("---:" for _ in PLANNED_SESSIONS) + " | --- |",
    ]
    for name, layout in LAYOUTS.items():
        per_unit, result = sessions_per_unit(name, SLO_P95_S, minutes=minutes)
        boxes = [str(math.ceil(n / per_unit) * layout.boxes) if per_unit else "–" for n in PLANNED_SESSIONS]
        busiest = result.bottleneck
        share = result.utilisation.get(busiest)
        where = f"`{busiest}` ({share:.0%} busy)" if share is not None else f"`{busiest}`"
        lines.append(f"| `{name}`: {layout.description} | **{per_unit}** | " + " | ".join(boxes) + f" | {where} |")
    return "\n".join(lines)


def sources_table() -> str:
    lines = [f"{len(FIGURES)} inputs: {kinds_summary()}.", "",
             "| Figure | Value | Kind | Source, or why it is assumed |", "| --- | ---: | --- | --- |"]
    for name, f in FIGURES.items():
        source = re.sub(r"(https://\S+)", r"<\1>", f.source.replace("|", "/"))
        lines.append(f"| `{name}` | {f.value:g} {f.unit} | {f.kind} | {source} |")
    return "\n".join(lines)


def sensitivity_table(minutes: float = MINUTES) -> str:
    return render_markdown(sensitivity(SENSITIVITY_LAYOUT, SLO_P95_S, minutes=minutes), SENSITIVITY_LAYOUT)


def check_section() -> str:
    return (check.render_markdown(check.check())
            + "\n\nThe sharing rule's job kinds, derived from the contention rows (`capacity/cpu_sharing.py`):\n\n"
            + check.render_sharing() + "\n\nIts inputs, as read now:\n\n" + check.render_inputs())


SECTIONS: dict[str, Callable[[], str]] = {
    "results": results_table,
    "sensitivity": sensitivity_table,
    "check": check_section,
    "sources": sources_table,
}


def replace_section(text: str, name: str, body: str) -> str:
    start, end = f"<!-- capacity:{name}:start -->", f"<!-- capacity:{name}:end -->"
    if start not in text or end not in text:
        raise ValueError(f"{DOC.name} has no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def section(text: str, name: str) -> str:
    """The current body of one generated section."""
    return text.split(f"<!-- capacity:{name}:start -->\n", 1)[1].split(f"\n<!-- capacity:{name}:end -->", 1)[0]


def main(names: list[str] | None = None, doc: Path = DOC) -> Path:
    text = doc.read_text()
    for name in names or list(SECTIONS):
        text = replace_section(text, name, SECTIONS[name]())
    doc.write_text(text)
    return doc


if __name__ == "__main__":
    print(main(sys.argv[1:] or None))
