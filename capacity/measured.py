"""Figures measured on a GPU (``python -m bench.gpu``), read by ``avatar capacity --gpu-figures``.

The file is JSON written by :mod:`bench.gpu`::

    {"format": "avatar-gpu-figures/1", "kind": "measured-on-gpu" | "dry-run",
     "gpu": {"name": "NVIDIA H200", "driver": "580.159.03", "memory_mib": 143771},
     "date": "2026-11-20", "command": "python -m bench.gpu ...",
     "figures": {"<a capacity.figures name>": {"value": 0.05, "unit": "RTF", "source": "measured on ..."}},
     "measurements": {...}, "memory": [...], "skipped": [...]}

``figures`` replaces the planner's inputs of the same names (each unit must be the one
:data:`capacity.figures.FIGURES` uses); the rest is the record of the run, shown but not used.
A ``dry-run`` file (tiny models on a CPU) measures nothing real: it is refused unless the caller
allows it explicitly, for tests. Stdlib only: ``bench.gpu`` writes the file with the interpreter
a bare GPU box has.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capacity.figures import FIGURES, Figure

FORMAT = "avatar-gpu-figures/1"
MEASURED = "measured-on-gpu"
DRY_RUN = "dry-run"


class GpuFiguresError(ValueError):
    """The file cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True)
class GpuFigures:
    path: Path
    kind: str
    gpu_name: str
    date: str
    figures: dict[str, Figure]  # name -> the replacement, kind measured-on-gpu
    memory: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    def overrides(self) -> dict[str, float]:
        return {name: figure.value for name, figure in self.figures.items()}


def load(path: Path, *, allow_dry_run: bool = False) -> GpuFigures:
    """Read and check a figures file; :class:`GpuFiguresError` says why one cannot be used."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise GpuFiguresError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:
        raise GpuFiguresError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise GpuFiguresError(f"{path}: not a GPU figures file (format {found!r}, expected {FORMAT!r}; "
                              "write one with python -m bench.gpu)")
    kind = data.get("kind")
    if kind == DRY_RUN and not allow_dry_run:
        raise GpuFiguresError(f"{path}: a dry run (tiny models on a CPU, python -m bench.gpu --dry-run) measures "
                              "nothing about a GPU; its figures are not used. Run python -m bench.gpu on the GPU box")
    if kind not in (MEASURED, DRY_RUN):
        raise GpuFiguresError(f"{path}: kind {kind!r} is neither {MEASURED!r} nor {DRY_RUN!r}")
    gpu = data.get("gpu")
    if not isinstance(gpu, dict) or not isinstance(gpu.get("name"), str) or not gpu["name"].strip():
        raise GpuFiguresError(f"{path}: no GPU name (gpu.name)")
    raw = data.get("figures")
    if not isinstance(raw, dict):
        raise GpuFiguresError(f"{path}: 'figures' must be an object of name -> {{value, unit, source}}")
    figures = {name: _figure(path, name, entry, kind, gpu["name"]) for name, entry in raw.items()}
    return GpuFigures(path, kind, gpu["name"], str(data.get("date", "")), figures,
                      memory=list(data.get("memory") or []), skipped=list(data.get("skipped") or []))


def _figure(path: Path, name: str, entry: Any, kind: str, gpu_name: str) -> Figure:
    if name not in FIGURES:
        raise GpuFiguresError(f"{path}: {name!r} is not a planner input (capacity/figures.py)")
    if not isinstance(entry, dict):
        raise GpuFiguresError(f"{path}: {name}: expected {{value, unit, source}}, got {entry!r}")
    value, unit, source = entry.get("value"), entry.get("unit"), entry.get("source")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise GpuFiguresError(f"{path}: {name}: value must be a positive number, got {value!r}")
    planned = FIGURES[name]
    if unit != planned.unit:
        raise GpuFiguresError(f"{path}: {name}: unit {unit!r}, but the planner counts it in {planned.unit!r}")
    if not isinstance(source, str) or not source.strip():
        raise GpuFiguresError(f"{path}: {name}: no source")
    # A dry run's figures keep their own kind in the label: "measured-on-gpu" would be untrue.
    label = MEASURED if kind == MEASURED else DRY_RUN
    return Figure(float(value), unit, label, f"{source} [{gpu_name}]", planned.varied)  # type: ignore[arg-type]


__all__ = ["DRY_RUN", "FORMAT", "GpuFigures", "GpuFiguresError", "MEASURED", "load"]
