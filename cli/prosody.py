"""``avatar analyze FILE``: the prosody report of one recording, as a table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

# The Praat features shown in the table, with their units: the scored ones first (the
# explanation above shows how each moved its score), then what helps to read them (all of
# them, and the reported-only whole-utterance measures, are in --json).
SHOWN = (
    ("speech_rate_sps", "syll/s"), ("pause_ratio", ""), ("long_pauses_per_min", "/min"),
    ("filled_pauses", ""), ("intensity_range_db", "dB"), ("final_slope_st_per_s", "st/s"),
    ("f0_median_hz", "Hz"), ("f0_sd_st", "st"), ("f0_range_st", "st"),
    ("jitter_rap_steady_pct", "%"), ("shimmer_apq3_steady_pct", "%"), ("hnr_periods_db", "dB"),
    ("f0_tremor_power", ""), ("f0_tremor_hz", "Hz"), ("amplitude_tremor_power", ""),
    ("amplitude_tremor_hz", "Hz"), ("rate_cv", ""),
    ("articulation_rate_sps", "syll/s"), ("pause_mean_s", "s"), ("steady_s", "s"), ("voiced_s", "s"),
)


def render(report: Any) -> str:
    quality = report.quality.as_dict()
    lines = [f"status    {report.status}   mode {report.mode}   ({report.analysis_ms:.0f} ms)"]
    lines.append("quality   " + "  ".join(f"{k}={v}" for k, v in quality["metrics"].items()))
    if not report.quality.ok:
        lines.append(f"reason    {', '.join(quality['reasons'])}: {quality['message']}")
        return "\n".join(lines)
    for name, value in (report.scores or {}).items():
        lines.append("")
        interval = (report.interval or {}).get(name)
        spread = f"   95 % test-retest interval {interval['low']:.0f}-{interval['high']:.0f}" if interval else ""
        lines.append(f"{name:<12}{value:6.1f} / 100{spread}")
        lines.append(f"  {'feature':<28}{'value':>9}{'ref':>9}{'z':>7}{'weight':>8}{'dir':>10}{'contrib':>9}")
        for row in report.explanation[name]:
            lines.append(
                f"  {row['feature']:<28}{row['value']:>9.3f}{row['reference']:>9.3f}{row['z']:>7.2f}"
                f"{row['weight']:>8.2f}{row['direction']:>10}{row['contribution']:>+9.3f}"
            )
    lines.append("")
    learned = report.learned
    if learned:
        lines.append(f"learned second opinion ({learned['engine']}, {learned['licence']}; not part of the scores)")
        if "values" in learned:
            lines.append("  " + "  ".join(f"{k} {v:.2f}" for k, v in learned["values"].items()) + "  (0..1)")
        else:
            lines.append(f"  unavailable: {learned['error']}" + (f" (fix: {learned['fix']})" if learned["fix"] else ""))
        lines.append(f"  {learned['assumption']}")
        lines.append("")
    lines.append("features (Praat; the 88 eGeMAPS functionals with --json)")
    for name, unit in SHOWN:
        value = report.praat.get(name)
        if value is not None:
            lines.append(f"  {name:<28}{value:>9.3f} {unit}")
    lines.append(f"  syllables counted from the {report.praat.get('syllable_source')}")
    return "\n".join(lines)


def analyze(
    file: Annotated[Path, typer.Argument(help="A WAV (or any file libsndfile reads).", exists=True, dir_okay=False)],
    transcript: Annotated[str, typer.Option(help="What was said (one Chinese character = one syllable).")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole report as JSON.")] = False,
) -> None:
    """Analyse one recording's prosody: confidence, stability, affability and why."""
    from avatar.settings import get_settings
    from workers.engines.registry import get_emotion_engine
    from workers.prosody.analysis import analyze_wav
    from workers.prosody.quality import QualityLimits

    settings = get_settings()
    report = analyze_wav(file.read_bytes(), transcript, limits=QualityLimits.from_settings(settings),
                         emotion=get_emotion_engine(settings))
    if as_json:
        out = {"status": report.status, "scores": report.scores, **report.features()}
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        typer.echo(render(report))
    if not report.quality.ok:
        raise typer.Exit(2)
