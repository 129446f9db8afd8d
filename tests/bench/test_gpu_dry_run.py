"""``python -m bench.gpu --dry-run``: the GPU script's own path on a CPU with the tiny models,
end to end, and the figures file it writes (refused by ``avatar capacity`` as a dry run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench import gpu
from capacity.figures import FIGURES
from capacity.measured import DRY_RUN, FORMAT, load
from models import real_size

ROOT = Path(__file__).resolve().parents[2]


def _dry_run(tmp_path: Path, *parts: str, budget_s: int = 300) -> dict[str, Any]:
    out = tmp_path / "figures.json"
    only = [f"--only={p}" for p in parts]
    done = subprocess.run([sys.executable, "-m", "bench.gpu", "--dry-run", "--budget-s", str(budget_s), *only,
                           "--out", str(out), "--work", str(tmp_path / "work")],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GPU: cpu (dry run)" in done.stdout and "wrote" in done.stdout
    return json.loads(out.read_text())


def _schema(record: dict[str, Any]) -> None:
    assert record["format"] == FORMAT and record["kind"] == DRY_RUN
    assert record["gpu"]["name"] == "cpu (dry run)" and record["date"]
    for name, figure in record["figures"].items():
        assert figure["unit"] == FIGURES[name].unit and figure["value"] > 0
        assert figure["source"].startswith("dry run on cpu (dry run) by bench/gpu.py ")
    for check in record["memory"]:  # no GPU: no readings, said so
        assert check["measured_mib"] is None and check["within_10pct"] is None and "dry run" in check["note"]


def test_the_orchestrator_keeps_the_benchmarks_fixed_lengths() -> None:
    # bench.gpu is stdlib only (a bare GPU box's python), so it holds copies of these
    assert gpu.REPLY_TOKENS == real_size.REPLY_TOKENS and gpu.ASR_TOKENS_PER_S == real_size.ASR_TOKENS_PER_S


def test_the_asr_part_runs_and_writes_the_figures_file(tmp_path: Path) -> None:
    record = _dry_run(tmp_path, "asr")
    _schema(record)
    assert set(record["measurements"]["asr"]) == {"2", "5", "10"}
    assert all(r["n"] == 1 and r["median"] > 0 for r in record["measurements"]["asr"].values())
    # a tiny model's three timings can fit a line with a negative window: then said, not written
    fitted = {"fw_turbo_13min_s", "fw_large_v3_13min_s", "rtx2080ti_fp16_tflops"} <= set(record["figures"])
    assert fitted or any(g["figure"] == "fw_turbo_13min_s" for g in record["not_mapped"]), record
    assert [c["part"] for c in record["memory"]] == ["asr"] and record["skipped"] == []
    with pytest.raises(ValueError, match="dry run"):  # a dry run is no measurement
        load(tmp_path / "figures.json")
    figures = load(tmp_path / "figures.json", allow_dry_run=True).figures
    assert all(figures[name].kind == "dry-run" for name in record["figures"])  # fw_turbo_13min_s among them when fitted


def test_a_budget_too_small_skips_and_records_each_part(tmp_path: Path) -> None:
    record = _dry_run(tmp_path, "asr", "llm", budget_s=1)
    reasons = {s["step"]: s["reason"] for s in record["skipped"]}
    assert "of the budget left" in reasons["build"]
    assert "AWQ not built" in reasons["llm_awq"]  # said in the output, never faked
    assert record["measurements"] == {} and record["figures"] == {}


@pytest.mark.slow
@pytest.mark.timeout(2400)  # a first run builds the engine envs inside the fixture
def test_every_part_runs_in_its_engine_env(engine_env: Any, tmp_path: Path) -> None:
    for name in ("vllm", "f5", "cosyvoice"):
        engine_env(name)  # a missing env is built, never skipped (make test builds them all)
    record = _dry_run(tmp_path)
    _schema(record)
    measured = record["measurements"]
    assert set(measured["f5"]) == {"16", "32"} and "tts_fast_rtf" in record["figures"]
    assert measured["cosyvoice"]["rtf_median"] > 0
    levels = measured["llm_bf16"]["levels"]
    assert set(levels) == {"1", "2", "4", "8"}, record["skipped"]
    assert all(level["ttft_s"]["n"] == int(n) for n, level in levels.items())
    assert {"llm_request_overhead_s", "llm_batch_slowdown"} <= set(record["figures"])
    steps = {s["step"] for s in record["skipped"]}
    assert steps == {"llm_awq", "cosyvoice3"}, record["skipped"]
