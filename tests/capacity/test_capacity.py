"""The capacity simulator and ``avatar capacity`` (pure computation: no services needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from capacity.simulate import percentile, simulate
from capacity.figures import FIGURES

ROOT = Path(__file__).resolve().parents[2]


def test_every_figure_names_its_source() -> None:
    kinds = ("measured here", "published", "derived", "assumed", "setting")
    for name, figure in FIGURES.items():
        assert figure.source.startswith(kinds), f"{name}: source must say what kind it is: {figure.source!r}"


def test_one_session_adds_up_to_the_pipeline_and_load_degrades_it() -> None:
    alone = simulate(1, "single-4090", minutes=10)
    # End of speech -> first audio alone: VAD endpoint + ASR + prefill + first fragment + its synthesis.
    floor = 0.5 + 0.2 + 0.1 + 10 * 0.0137 + 3.1 * 0.15 * 0.8
    assert alone.turns > 10 and floor * 0.8 < percentile(alone.e2e, 50) < floor * 2
    busy = simulate(12, "single-4090", minutes=10)
    assert busy.utilisation["tts_fast"] > alone.utilisation["tts_fast"] * 5
    assert busy.p95(busy.stalls) > alone.p95(alone.stalls)
    assert busy.bottleneck == "tts_fast"


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = simulate(4, "two-box", minutes=5, seed=7), simulate(4, "two-box", minutes=5, seed=7)
    assert a.e2e == b.e2e and a.utilisation == b.utilisation


def test_asr_on_two_cpu_cores_misses_the_slo_as_measured() -> None:
    cpu = simulate(2, "single-4090-cpu-asr", minutes=10)
    assert cpu.p95(cpu.e2e) > 3.5 and not cpu.meets(3.5)
    assert cpu.bottleneck == "asr (latency)"


def test_cli_prints_the_plan_for_20_sessions() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "capacity", "--sessions", "20", "--minutes", "5"],
        capture_output=True, text=True, timeout=240, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for layout in ("single-4090", "two-box"):
        assert re.search(rf"^{layout}\s+\d+\s+\d+\s+\d+\s+[\d.]+s", text, re.M), text
    assert "Recommended:" in text and "bottleneck" in text
    assert "vllm-qwen2.5-7b-awq" in text and "13,510 MiB" in text  # the preset's VRAM map
    bad = subprocess.run([sys.executable, "-m", "cli", "capacity", "--sessions", "5", "--gpu", "h100"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "unknown GPU" in bad.stderr
