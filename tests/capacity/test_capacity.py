"""The capacity planner and ``avatar capacity`` (pure computation: no services needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from capacity.derived import BENCH_AUDIO_WINDOWS, Inputs
from capacity.figures import FIGURES, KINDS, MEASURED_CELLS
from capacity.simulate import LAYOUTS, percentile, simulate

ROOT = Path(__file__).resolve().parents[2]


def test_every_figure_has_a_kind_and_a_source() -> None:
    headings = [line.lstrip("#").strip() for line in (ROOT / "docs" / "benchmarks.md").read_text().splitlines()
                if line.startswith("## ")]
    for name, figure in FIGURES.items():
        assert figure.kind in KINDS, f"{name}: kind {figure.kind!r} is not one of {KINDS}"
        assert len(figure.source.split()) >= 3, f"{name}: no source (or no reasoning) given: {figure.source!r}"
        if figure.kind == "published":
            assert "https://" in figure.source, f"{name}: a published figure cites its URL: {figure.source!r}"
        if figure.kind.startswith("measured"):
            # "docs/benchmarks.md, <section>, <row>": the section must exist in the benchmarks page.
            assert figure.source.startswith("docs/benchmarks.md, "), name
            section = figure.source.split(", ")[1]
            assert any(h.startswith(section) for h in headings), f"{name}: no section {section!r} in benchmarks.md"


def test_every_measured_figure_still_stands_in_its_benchmark_row() -> None:
    measured = {name for name, f in FIGURES.items() if f.kind == "measured-here"}
    assert measured == set(MEASURED_CELLS), "each measured-here figure names its cell in MEASURED_CELLS"
    for name, (cell, scale) in MEASURED_CELLS.items():
        now = cell.value() * scale
        assert abs(now - FIGURES[name].value) <= 1e-9 + 1e-6 * abs(now), (
            f"{name}: {cell.cite()} now reads {now:g}: write it in capacity/figures.py (and its source)")


def test_no_two_layouts_are_defined_alike() -> None:
    definitions = [layout.definition() for layout in LAYOUTS.values()]
    assert len(set(map(repr, definitions))) == len(definitions)
    # The 48 GB layout is the two-slot 4090 layout with more memory, and nothing else.
    big, small = LAYOUTS["single-48gb"], LAYOUTS["single-4090-2fast"]
    assert (big.pools, big.gpu, big.boxes) == (small.pools, small.gpu, small.boxes)
    assert Inputs()[big.gpu_memory] > Inputs()[small.gpu_memory]


def test_turbo_shrinks_only_the_decoder() -> None:
    x = Inputs()
    window_s, token_s = x.whisper_split_2080ti()
    tokens = x["bench_audio_tokens"]
    # The split reproduces both published long-form times: large-v3 whole, turbo with 4 of 32 layers.
    assert abs(window_s * BENCH_AUDIO_WINDOWS + token_s * tokens - x["fw_large_v3_13min_s"]) < 1e-9
    assert abs(window_s * BENCH_AUDIO_WINDOWS + token_s * tokens * 4 / 32 - x["fw_turbo_13min_s"]) < 1e-9
    # A short utterance on turbo costs more than large-v3's whole cost scaled by 4/32: the encoder stays.
    assert x.asr_gpu_s(3.0) > x.asr_gpu_s(3.0, decoder_layers=32) * 4 / 32
    # Longer speech only adds decoder tokens; the padded window costs the same.
    assert x.asr_gpu_s(6.0) - x.asr_gpu_s(3.0) < x.asr_gpu_s(3.0) / 2


def test_prefill_scales_with_the_prompt_and_queues_under_load() -> None:
    x, doubled = Inputs(), Inputs({"llm_prompt_tokens": 2 * FIGURES["llm_prompt_tokens"].value})
    overhead = x["llm_request_overhead_s"]
    assert abs((doubled.llm_prefill_s() - overhead) - 2 * (x.llm_prefill_s() - overhead)) < 1e-12
    alone = simulate(1, "two-box", minutes=10)
    assert abs(percentile(alone.ttft, 50) - (x.llm_prefill_s() + x["orchestration_p95_s"])) < 0.01
    busy = simulate(14, "two-box", minutes=10)  # the LLM has box A to itself: only other prompts delay it
    assert percentile(busy.ttft, 95) > percentile(alone.ttft, 95)


def test_one_session_adds_up_to_the_pipeline_and_load_degrades_it() -> None:
    x = Inputs()
    alone = simulate(1, "single-4090", minutes=10)
    # End of speech -> first audio alone: VAD endpoint + ASR + prefill + first fragment + its synthesis.
    first_audio_s = x["first_fragment_tokens"] * x["chars_per_token"] / x["speech_chars_per_s"]
    floor = (x["vad_endpoint_s"] + x.asr_gpu_s(x["utterance_median_s"]) * 0.8 + x.llm_prefill_s()
             + x["first_fragment_tokens"] * x.llm_tpot_batch1_s() + first_audio_s * x["tts_fast_rtf"] * 0.8)
    assert alone.turns > 10 and floor * 0.8 < percentile(alone.e2e, 50) < floor * 2
    busy = simulate(12, "single-4090", minutes=10)
    assert busy.utilisation["tts_fast"] > alone.utilisation["tts_fast"] * 5
    assert busy.p95(busy.stalls) > alone.p95(alone.stalls)
    assert busy.bottleneck == "tts_fast"


def test_the_same_seed_gives_the_same_run() -> None:
    a, b = simulate(4, "two-box", minutes=5, seed=7), simulate(4, "two-box", minutes=5, seed=7)
    assert a.e2e == b.e2e and a.utilisation == b.utilisation


def test_asr_on_two_cpu_cores_misses_the_slo() -> None:
    cpu = simulate(2, "single-4090-cpu-asr", minutes=10)
    assert cpu.p95(cpu.e2e) > 3.5 and not cpu.meets(3.5)
    assert cpu.bottleneck == "asr (latency)"


def test_a_layout_whose_models_do_not_fit_holds_no_session() -> None:
    x = Inputs()
    assert all(layout.fits_vram(x) for layout in LAYOUTS.values())
    half = Inputs({"rtx4090_vram_mb": FIGURES["rtx4090_vram_mb"].value / 2})
    assert not LAYOUTS["single-4090"].fits_vram(half) and LAYOUTS["single-48gb"].fits_vram(half)


def test_cli_prints_the_plan_and_its_sensitivity() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cli", "capacity", "--sessions", "20", "--minutes", "5", "--sensitivity"],
        capture_output=True, text=True, timeout=400, cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for layout in ("single-4090", "two-box"):
        assert re.search(rf"^{layout}\s+\d+\s+\d+\s+\d+\s+[\d.]+s", text, re.M), text
    assert "Recommended:" in text and "bottleneck" in text
    assert "vllm-qwen2.5-7b-awq" in text and "13,510 MiB" in text  # the preset's VRAM map
    assert re.search(r"^tts_fast_rtf\s+published\s+0\.15\s+\d+\s+\d+\s+\d+$", text, re.M), text
    bad = subprocess.run([sys.executable, "-m", "cli", "capacity", "--sessions", "5", "--gpu", "h100"],
                         capture_output=True, text=True, cwd=ROOT)
    assert bad.returncode != 0 and "unknown GPU" in bad.stderr
