"""``avatar capacity``: the plan as tables (placement per box, stage P95s, bottleneck)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from capacity.derived import Inputs
from capacity.figures import FIGURES, Figure
from capacity.measured import GpuFigures
from capacity.simulate import LAYOUTS, Plan, plan
from gpu_scheduler.presets import PRESETS
from gpu_scheduler.registry import DEFAULT_SPECS, TTS_FAST_F5

# Which layouts a GPU choice can build.
GPU_CHOICES: dict[str, tuple[str, ...]] = {
    "rtx4090": ("single-4090", "single-4090-2fast", "two-box", "single-4090-cpu-asr"),
    "48gb": ("single-48gb",),
}

# CPU/RAM per process. RAM: assumption (typical resident sizes of these processes; the GPU
# models' host copies are freed once on the device), to be replaced by `docker stats` on the
# box. Cores: what the process keeps busy at the planned load; only the API's is measured.
_API_PER_STREAM = FIGURES["api_core_per_stream"].value
CPU_SIDE: list[tuple[str, str, str]] = [
    ("API (Socket.IO, VAD inline)",
     f"1 core per ~{1 / _API_PER_STREAM:.0f} live streams (measured here: {_API_PER_STREAM:.2%}/stream)", "1 GB"),
    ("llm lane worker (streams from vLLM)", "<= 1 core (assumption)", "0.5 GB"),
    ("prosody workers (openSMILE + Praat)", "1 core each, 4 processes", "4 x 0.5 GB"),
    ("vLLM engine process", "1 core (scheduler + detokenizer; assumption)", "4 GB"),
    ("GPU lane workers (asr, tts_fast, tts_hq, batch)", "1 core each", "4 x 2.5 GB"),
    ("Redis + PostgreSQL + MinIO", "1-2 cores (assumption)", "6 GB"),
    ("Prometheus + Grafana + Flower + nginx", "1 core (assumption)", "2 GB"),
]


def vram_map(preset: str) -> list[tuple[str, int, str]]:
    return [(m.name, m.footprint_mb, m.residency) for g in PRESETS[preset].gpus for m in g.models]


def best_plan(sessions: int, gpu: str, slo_p95_s: float, minutes: float,
              inputs: Inputs | None = None) -> tuple[Plan, list[Plan]]:
    plans = [plan(sessions, name, slo_p95_s, minutes=minutes, inputs=inputs) for name in GPU_CHOICES[gpu]]
    feasible = [p for p in plans if p.per_unit > 0]
    best = min(feasible, key=lambda p: (p.boxes, -p.per_unit)) if feasible else plans[0]
    return best, plans


def render(sessions: int, gpu: str = "rtx4090", slo_p95_s: float = 3.5, minutes: float = 20.0,
           measured: GpuFigures | None = None) -> str:
    """The plan; ``measured`` (a GPU figures file) replaces the published inputs it names."""
    figures = FIGURES | (measured.figures if measured else {})
    inputs = Inputs(measured.overrides()) if measured else None
    best, plans = best_plan(sessions, gpu, slo_p95_s, minutes, inputs)
    lines = [
        f"AVATAR capacity plan: {sessions} concurrent sessions, SLO P95 end of speech -> first audio "
        f"<= {slo_p95_s:g} s, TTFT P95 <= 0.8 s, playback stalls P95 <= 0.5 s, no pool above 90 % busy",
        f"(discrete-event simulation, {minutes:g} simulated minutes per run; inputs: capacity/figures.py, "
        f"{kinds_summary(figures)})",
        *(measured_lines(measured) if measured else []),
        "",
        f"{'layout':<22}{'sessions/unit':>14}{'units':>7}{'boxes':>7}{'E2E P95':>9}{'TTFT P95':>10}"
        f"{'stall P95':>11}  bottleneck",
    ]
    for p in plans:
        r = p.at_load
        util = r.utilisation.get(r.bottleneck, max(r.utilisation.values()))
        boxes = str(p.boxes) if p.per_unit else "-"
        lines.append(
            f"{p.layout.name:<22}{p.per_unit:>14}{(p.units if p.per_unit else '-'):>7}{boxes:>7}"
            f"{r.p95(r.e2e):>8.2f}s{r.p95(r.ttft):>9.2f}s{r.p95(r.stalls):>10.2f}s  {r.bottleneck} ({util:.0%})"
        )
    r = best.at_load
    lines += [
        "",
        f"Recommended: {best.boxes} box(es), layout {best.layout.name}: {best.layout.description}",
        f"  at {r.sessions} sessions per unit: P95 ASR wait {r.p95(r.asr_wait):.2f} s, TTFT {r.p95(r.ttft):.2f} s, "
        f"first audio {r.p95(r.e2e):.2f} s, HQ sentence lag {r.p95(r.hq_lag):.1f} s; "
        f"bottleneck {r.bottleneck} at {r.utilisation.get(r.bottleneck, 0.0):.0%}",
        "",
        "Where each model goes (VRAM from gpu_scheduler/presets.py):",
    ]
    presets = ("two-box-llm", "two-box-speech") if best.layout.name == "two-box" else ("single-4090",)
    for preset in presets:
        for name, mb, residency in vram_map(preset):
            lines.append(f"  GPU  {preset:<16}{name:<32}{mb:>7,} MiB  {residency}")
    if best.layout.pools["tts_fast"] > 1:
        extra = best.layout.pools["tts_fast"] - 1
        f5_mb = DEFAULT_SPECS[TTS_FAST_F5].footprint_mb
        lines.append(f"  GPU  + {extra} more fast-TTS slot(s): {extra} x {f5_mb:,} MiB (a second F5 copy or batched F5)")
    asr_on_cpu = best.layout.gpu["asr"] is None
    if asr_on_cpu:
        lines.append("  CPU  faster-whisper on the CPU (4 processes x 2 cores)")
    for what, cores, ram in CPU_SIDE:
        lines.append(f"  CPU  {what:<48}{cores:<62}{ram}")
    lines.append(
        f"  Box: {FIGURES['box_cores'].value:g} cores, {FIGURES['box_ram_gb'].value:g} GB RAM "
        "(about 30 GB planned above, RAM sizes assumed: room for the page cache and model files)"
    )
    lines.append("  (VRAM per model: estimates in gpu_scheduler/registry.py, an assumption until measured on the box)")
    return "\n".join(lines)


def measured_lines(measured: GpuFigures) -> list[str]:
    """What a GPU figures file replaced, what it measured besides, and what it skipped."""
    lines = ["", f"GPU figures from {measured.path} ({measured.kind} on {measured.gpu_name}, {measured.date}), "
             "in place of the planner's own:"]
    for name, figure in measured.figures.items():
        was = FIGURES[name]
        lines.append(f"  {name:<34}{figure.value:>12.4g} {figure.unit:<20} {figure.kind} (was {was.value:g}, {was.kind})")
    if not measured.figures:
        lines.append("  (none: the run measured nothing the planner takes as an input)")
    for check in measured.memory:
        verdict = {True: "within 10 %", False: "OFF by more than 10 %", None: "not compared"}[check.get("within_10pct")]
        lines.append(f"  GPU memory {check.get('model')}: {check.get('measured_mib', 'n/a')} MiB measured, "
                     f"{check.get('registry_mib', 'n/a')} MiB in gpu_scheduler/registry.py: {verdict}")
    for skip in measured.skipped:
        lines.append(f"  not measured: {skip.get('step')}: {skip.get('reason')}")
    return lines


def kinds_summary(figures: Mapping[str, Figure] = FIGURES) -> str:
    """How many of the planner's inputs are of each kind, e.g. '12 published, 20 assumption'."""
    counts = Counter(f.kind for f in figures.values())
    return ", ".join(f"{counts[k]} {k}" for k in sorted(counts, key=lambda k: -counts[k]))


__all__ = ["GPU_CHOICES", "LAYOUTS", "best_plan", "kinds_summary", "measured_lines", "render", "vram_map"]
