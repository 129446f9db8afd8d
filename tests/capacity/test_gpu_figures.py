"""``avatar capacity --gpu-figures FILE``: figures measured on a GPU replace the published ones."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.gpu_figures import gpu_spec, map_figures, memory_check
from capacity.measured import FORMAT

ROOT = Path(__file__).resolve().parents[2]


def _capacity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli", "capacity", "--sessions", "10", "--minutes", "3", *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def _synthetic_results() -> dict[str, Any]:
    """What a GPU run measures (synthetic numbers: F5 ten times faster than the paper's RTF)."""
    levels = {str(n): {"ttft_s": {"median": 0.06 + 0.01 * n}, "tokens_per_s": {"median": 150 / (1 + 0.05 * (n - 1))}}
              for n in (1, 2, 4, 8)}
    return {"f5": {"16": {"rtf_median": 0.015}, "32": {"rtf_median": 0.03}},
            "asr": {"2": {"median": 0.12}, "5": {"median": 0.135}, "10": {"median": 0.16}},
            "llm_bf16": {"prompt_tokens": 600, "short_prompt_tokens": 8, "short_ttft_s": {"median": 0.02},
                         "levels": levels}}


def _write(path: Path, figures: dict[str, Any], kind: str = "measured-on-gpu") -> Path:
    checks = [memory_check("f5", 1450.0, 1200.0), memory_check("asr", 2600.0, None)]
    path.write_text(json.dumps({"format": FORMAT, "kind": kind, "gpu": {"name": "NVIDIA H200", "driver": "580"},
                                "date": "2026-12-01", "figures": figures, "memory": checks,
                                "skipped": [{"step": "llm_awq", "reason": "AWQ not built"}]}))
    return path


def test_a_measured_file_changes_the_plan_and_is_labelled(tmp_path: Path) -> None:
    spec = gpu_spec("NVIDIA H200", dry_run=False)
    assert spec is not None and spec[2] == 4800.0
    figures, gaps = map_figures(_synthetic_results(), spec, "measured on NVIDIA H200 by bench/gpu.py 2026-12-01", 5)
    assert figures["tts_fast_rtf"]["value"] == 0.015
    assert 0.04 < figures["llm_batch_slowdown"]["value"] < 0.06  # the rule the levels were made with
    assert "qwen_awq_a100_tok_s" not in figures and any(g["figure"] == "qwen_awq_a100_tok_s" for g in gaps)
    path = _write(tmp_path / "gpu.json", figures)
    base, measured = _capacity(), _capacity("--gpu-figures", str(path))
    assert base.returncode == 0 and measured.returncode == 0, measured.stderr
    assert "measured-on-gpu" not in base.stdout
    text = measured.stdout
    assert re.search(r"^  tts_fast_rtf\s+0\.015 RTF\s+measured-on-gpu \(was 0\.15, published\)", text, re.M), text
    assert "measured-on-gpu on NVIDIA H200" in text and "measured-on-gpu" in text.splitlines()[1]
    assert "GPU memory f5-tts: 1450.0 MiB measured, 1400 MiB in gpu_scheduler/registry.py: within 10 %" in text
    assert "OFF by more than 10 %" in text  # the ASR one: 2600 against 1600
    assert "not measured: llm_awq: AWQ not built" in text
    table = lambda out: [line for line in out.splitlines() if line.startswith("single-4090 ")]  # noqa: E731
    assert table(base.stdout) != table(text)  # a faster fast tier holds more sessions


def test_a_dry_run_file_is_refused_unless_allowed(tmp_path: Path) -> None:
    path = _write(tmp_path / "dry.json", {"tts_fast_rtf": {"value": 0.5, "unit": "RTF", "source": "dry"}}, "dry-run")
    refused = _capacity("--gpu-figures", str(path))
    assert refused.returncode == 2 and "a dry run" in refused.stderr and "not used" in refused.stderr
    allowed = _capacity("--gpu-figures", str(path), "--allow-dry-run-figures")
    assert allowed.returncode == 0 and "tts_fast_rtf" in allowed.stdout and "dry-run" in allowed.stdout


def test_a_bad_file_is_an_error(tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "avatar-gpu-fig')
    for path, message in ((corrupt, "not JSON"), (tmp_path / "absent.json", "cannot read it"),
                          (_write(tmp_path / "unit.json", {"tts_fast_rtf": {"value": 1, "unit": "s", "source": "x"}}),
                           "the planner counts it in 'RTF'"),
                          (_write(tmp_path / "name.json", {"no_such": {"value": 1, "unit": "s", "source": "x"}}),
                           "not a planner input")):
        out = _capacity("--gpu-figures", str(path))
        assert out.returncode == 2 and message in out.stderr, (path, out.stderr)
        assert "Traceback" not in out.stderr
