"""Which inputs the answer hangs on: sessions per unit with each figure at -50 % and +50 %.

One figure moves at a time, the others stay at their values in :mod:`capacity.figures`; the
simulation (seed, minutes) is the same for every row, so a figure the answer does not depend
on gives exactly the base count. Figures marked ``varied=False`` (exact facts such as layer
counts) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from capacity.derived import Inputs
from capacity.figures import FIGURES
from capacity.simulate import sessions_per_unit


@dataclass(frozen=True)
class SensitivityRow:
    name: str
    kind: str
    value: float
    unit: str
    low: int  # sessions per unit with the figure at (1 - swing) x its value
    base: int
    high: int  # ... at (1 + swing) x its value

    @property
    def spread(self) -> int:
        return max(abs(self.low - self.base), abs(self.high - self.base))


def sensitivity(layout: str = "single-4090-2fast", slo_p95_s: float = 3.5, *, minutes: float = 20.0,
                swing: float = 0.5, names: list[str] | None = None,
                overrides: Mapping[str, float] | None = None) -> list[SensitivityRow]:
    """One row per varied figure (or per name in ``names``), largest effect first; ``overrides``
    (e.g. figures measured on a GPU) replace the planned values of the figures they name."""
    values = {n: f.value for n, f in FIGURES.items()} | dict(overrides or {})
    base, _ = sessions_per_unit(layout, slo_p95_s, minutes=minutes, inputs=Inputs(overrides))
    rows = []
    for name in names or [n for n, f in FIGURES.items() if f.varied]:
        figure = FIGURES[name]

        def at(scale: float, name: str = name) -> int:
            inputs = Inputs({**(overrides or {}), name: values[name] * scale})
            return sessions_per_unit(layout, slo_p95_s, minutes=minutes, inputs=inputs)[0]

        kind = "measured-on-gpu" if name in (overrides or {}) else figure.kind
        rows.append(SensitivityRow(name, kind, values[name], figure.unit, at(1 - swing), base, at(1 + swing)))
    return sorted(rows, key=lambda r: -r.spread)


def render_markdown(rows: list[SensitivityRow], layout: str, swing: float = 0.5) -> str:
    pct = f"{swing:.0%}"
    lines = [
        f"| Figure | Kind | Value | Sessions at −{pct} | Sessions as planned | Sessions at +{pct} |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        def cell(n: int) -> str:
            return f"**{n}**" if n != r.base else str(n)

        lines.append(f"| `{r.name}` | {r.kind} | {r.value:g} {r.unit} | {cell(r.low)} | {r.base} | {cell(r.high)} |")
    unchanged = sum(1 for r in rows if r.spread == 0)
    lines += ["", f"Layout `{layout}`. Bold: a count that differs from the plan's. {unchanged} of {len(rows)} "
              "figures leave the answer unchanged at ±" + pct + "."]
    return "\n".join(lines)


def render_text(rows: list[SensitivityRow], layout: str, swing: float = 0.5) -> str:
    pct = f"{swing:.0%}"
    lines = [f"Sensitivity of sessions per unit ({layout}): each figure at -{pct} / as planned / +{pct}",
             f"{'figure':<34}{'kind':<16}{'value':>14}  {'-' + pct:>5}{'base':>6}{'+' + pct:>6}"]
    for r in rows:
        lines.append(f"{r.name:<34}{r.kind:<16}{r.value:>14g}  {r.low:>5}{r.base:>6}{r.high:>6}")
    return "\n".join(lines)


__all__ = ["SensitivityRow", "render_markdown", "render_text", "sensitivity"]
