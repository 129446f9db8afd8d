"""Deployment commands: ``avatar models pull`` and ``avatar capacity``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from avatar.settings import get_settings


def models_pull(
    profile: Annotated[str, typer.Option(help="Which weights: cpu, gpu (or another profile of the manifest).")] = "gpu",
    lock: Annotated[bool, typer.Option(help="Pin the Hub commit and record SHA-256 sums (needs internet).")] = False,
    manifest: Annotated[Optional[Path], typer.Option(help="Manifest (default: AVATAR_MODELS_MANIFEST or models.lock.json).")] = None,
) -> None:
    """Download a profile's weights (resumable, progress bars), SHA-256 checked against the manifest.

    With HF_HUB_OFFLINE=1 nothing is downloaded: the files already there are verified.
    """
    from models.pull import DEFAULT_MANIFEST, pull
    from models.download import ModelSetupError

    settings = get_settings()
    configured = settings.models_manifest if str(settings.models_manifest) not in ("", ".") else DEFAULT_MANIFEST
    try:
        done = pull(profile, models_dir=settings.resolved_models_dir, manifest_path=manifest or configured, lock=lock,
                    log=typer.echo)
    except ModelSetupError as exc:
        typer.echo(f"pull failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"{profile}: {sum(len(p) for p in done.values())} files in {len(done)} models verified")


def capacity(
    sessions: Annotated[Optional[int], typer.Option(min=1, help="Concurrent sessions to plan for.")] = None,
    gpu: Annotated[str, typer.Option(help="GPU of the box: rtx4090 (the MAXER-2100) or 48gb.")] = "rtx4090",
    slo_p95: Annotated[float, typer.Option(help="P95 end of speech -> first audio, seconds.")] = 3.5,
    minutes: Annotated[float, typer.Option(help="Simulated minutes per run (more: steadier figures).")] = 20.0,
    sensitivity: Annotated[bool, typer.Option(
        help="Also vary each input -50 %/+50 %, one at a time: sessions per unit of the recommended layout.")] = False,
    gpu_figures: Annotated[Optional[Path], typer.Option(
        help="A figures file from `python -m bench.gpu` on a GPU box: its measured values replace the "
        "published GPU figures they name (labelled measured-on-gpu).")] = None,
    allow_dry_run_figures: Annotated[bool, typer.Option(
        help="Accept a --dry-run figures file (tiny models on a CPU: for testing the plumbing only).")] = False,
    check: Annotated[bool, typer.Option(
        help="Check the simulator against this machine: the cpu layout, fed docs/benchmarks.md's per-engine rows, "
        "against the voice-to-voice table (predicted vs measured P95 at 1/3/5 sessions).")] = False,
) -> None:
    """Boxes needed, where each model goes, each stage's P95 and the bottleneck (simulated)."""
    if check:
        # imported when run, as this module's other commands do: `avatar` starts without the planner
        from capacity import check as simulator_check

        try:
            typer.echo(simulator_check.render_text(simulator_check.check()))
        except LookupError as exc:  # capacity.bench_doc.BenchDocError: a row or section not found
            typer.echo(f"error: docs/benchmarks.md lacks what the check reads: {exc}", err=True)
            raise typer.Exit(2) from None
        if sessions is None:
            return
        typer.echo("")
    if sessions is None:
        raise typer.BadParameter("give --sessions N (the load to plan for), or --check")
    from capacity import measured as gpu_measured
    from capacity.derived import Inputs
    from capacity.report import GPU_CHOICES, best_plan, render
    from capacity.sensitivity import render_text, sensitivity as vary_each

    if gpu not in GPU_CHOICES:
        raise typer.BadParameter(f"unknown GPU {gpu!r}; choose one of {', '.join(GPU_CHOICES)}")
    measured = None
    if gpu_figures is not None:
        try:
            measured = gpu_measured.load(gpu_figures, allow_dry_run=allow_dry_run_figures)
        except gpu_measured.GpuFiguresError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
    overrides = measured.overrides() if measured else None
    typer.echo(render(sessions, gpu, slo_p95, minutes, measured=measured))
    if sensitivity:
        layout = best_plan(sessions, gpu, slo_p95, minutes, Inputs(overrides))[0].layout.name
        typer.echo("")
        typer.echo(render_text(vary_each(layout, slo_p95, minutes=minutes, overrides=overrides), layout))


def register(app: typer.Typer, models_app: typer.Typer) -> None:
    models_app.command("pull")(models_pull)
    app.command()(capacity)
