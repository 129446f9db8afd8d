"""Draw docs/capacity-plan.png: first-audio P95 and the busiest pool vs sessions, per layout.

    python scripts/capacity_chart.py          (needs matplotlib: pip install "avatar[dev]")

Every point is one run of capacity.simulate.simulate (20 simulated minutes, seed 1), with the
inputs of capacity/figures.py. The page's tables are written by ``python -m capacity.doc``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.simulate import simulate  # noqa: E402

LAYOUTS = ("single-4090", "single-4090-2fast", "two-box")
SESSIONS = list(range(1, 25))


def main(out: Path = ROOT / "docs" / "capacity-plan.png", slo: float = 3.5) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for layout in LAYOUTS:
        runs = [simulate(n, layout, minutes=20) for n in SESSIONS]
        left.plot(SESSIONS, [r.p95(r.e2e) for r in runs], marker="o", ms=3, label=layout)
        right.plot(SESSIONS, [max(r.utilisation.values()) * 100 for r in runs], marker="o", ms=3, label=layout)
    left.axhline(slo, color="red", ls="--", lw=1, label=f"SLO P95 {slo:g} s")
    left.set(xlabel="concurrent sessions per unit", ylabel="end of speech -> first audio, P95 (s)",
             title="First audio P95 (simulated)")
    right.axhline(90, color="red", ls="--", lw=1, label="90 % busy")
    right.set(xlabel="concurrent sessions per unit", ylabel="busiest pool (%)", title="Bottleneck utilisation")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("AVATAR on the AAEON MAXER-2100 (RTX 4090), simulated: every input labelled in capacity/figures.py",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(main())
