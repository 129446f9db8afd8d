"""Does stability follow tempo because of PSOLA, or because of the measures? (issue 19)

The isolation suite changes tempo with Praat's PSOLA, which drops (faster) or repeats
(slower) whole glottal periods. This script changes tempo a second way, by re-synthesis with
the WORLD vocoder (``pyworld``): F0, spectral envelope and aperiodicity are analysed every
5 ms, the frame sequence is resampled to the new duration, and every period is generated
anew, so no period is dropped or repeated. Each method is compared with an identity
resynthesis made the same way (WORLD analysis and synthesis with nothing changed for WORLD).

    python -m tests.workers.prosody.tempo_methods

prints, per recording, each score's change under tempo x0.77 and x1.3 for both methods.
``pyworld`` is not a dependency of the project (only this comparison uses it):
``pip install pyworld`` first. The figures are quoted in docs/prosody.md ("What still fails").
"""

from __future__ import annotations

import sys

import numpy as np

from tests.workers.prosody import speech as sp
from tests.workers.prosody.isolation import SCORE_NAMES, sources
from workers.prosody import analyze

FRAME_PERIOD_MS = 5.0
FACTORS = (0.77, 1.3)


def world_tempo(x: np.ndarray, factor: float, rate: int = sp.RATE) -> np.ndarray:
    """``factor`` > 1 speaks faster; 1.0 is the WORLD identity resynthesis."""
    try:
        import pyworld
    except ImportError as exc:  # pragma: no cover - a documentation script, not a test
        raise SystemExit("this comparison needs the WORLD vocoder: pip install pyworld") from exc
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, times = pyworld.harvest(x, rate, f0_floor=60.0, f0_ceil=600.0, frame_period=FRAME_PERIOD_MS)
    envelope = pyworld.cheaptrick(x, f0, times, rate)
    aperiodicity = pyworld.d4c(x, f0, times, rate)
    # Output frame k takes the input at position k * factor, interpolated between frames.
    position = np.minimum(np.arange(int(round(f0.size / factor))) * factor, f0.size - 1)
    lo = np.floor(position).astype(int)
    hi = np.minimum(lo + 1, f0.size - 1)
    w = (position - lo)[:, None]
    new_envelope = np.exp((1 - w) * np.log(envelope[lo]) + w * np.log(envelope[hi]))
    new_aperiodicity = (1 - w) * aperiodicity[lo] + w * aperiodicity[hi]
    # F0: log-interpolated between two voiced frames, else the nearer frame (voicing kept).
    w1 = w[:, 0]
    new_f0 = np.where(w1 < 0.5, f0[lo], f0[hi])
    both = (f0[lo] > 0) & (f0[hi] > 0)
    new_f0[both] = np.exp((1 - w1[both]) * np.log(f0[lo][both]) + w1[both] * np.log(f0[hi][both]))
    return pyworld.synthesize(np.ascontiguousarray(new_f0), np.ascontiguousarray(new_envelope),
                              np.ascontiguousarray(new_aperiodicity), rate, FRAME_PERIOD_MS)


def comparison(source: sp.Speech) -> list[str]:
    x, text = source.samples, source.transcript
    rows = []
    methods = {"PSOLA": (sp.identity(x), lambda k: sp.tempo(x, k)), "WORLD": (world_tempo(x, 1.0), lambda k: world_tempo(x, k))}
    for method, (control, change) in methods.items():
        base = analyze(control, sp.RATE, text).scores or {}
        for factor in FACTORS:
            moved = analyze(change(factor), sp.RATE, text).scores or {}
            cells = " | ".join(f"{moved[s] - base[s]:+.1f}" for s in SCORE_NAMES)
            rows.append(f"| {source.name} | {method} | x{factor} | " + cells + " |")
    return rows


def main() -> int:
    found, missing = sources()
    print("| recording | method | tempo | confidence | stability | affability |")
    print("| --- | --- | --- | --- | --- | --- |")
    for source in found:
        print("\n".join(comparison(source)))
    if missing:
        print("not available here: " + "; ".join(missing))
    return 0


if __name__ == "__main__":
    sys.exit(main())
