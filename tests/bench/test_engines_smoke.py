"""``bench.engines`` on the tiny models: every measurement runs through AVATAR's engines and
the section renders with its labels (the figures of a tiny model mean nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bench.engines import measure_asr, measure_f5, measure_llm, render
from bench.report import machine_info


def test_llm_and_asr_measurements_and_the_section(tiny_models_dir: Path) -> None:
    llm = measure_llm(tiny_models_dir / "tiny" / "llm", runs=2, levels=(1, 2))
    assert set(llm) == {1, 2}
    for level in llm.values():
        assert level["ttft_s"]["n"] == 2 and level["ttft_s"]["median"] > 0
        assert level["tokens_per_s"]["median"] > 0
    asr = measure_asr(tiny_models_dir / "tiny" / "asr", runs=2, lengths=(2,))
    assert asr[2]["n"] == 2 and asr[2]["median"] > 0
    section = render(machine_info(), {"tiny": llm}, {"tiny": asr}, {"error": "not run (--only)"}, "python -m bench.engines")
    assert section.startswith("<!-- bench:engines:start -->") and section.rstrip().endswith("<!-- bench:engines:end -->")
    assert "random weights, real size, measured here" in section
    assert "| tiny | 2 | 2 |" in section and "Not measured: not run (--only)" in section


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a first run builds the f5 engine env inside the fixture
def test_f5_speed_runs_in_its_engine_env(engine_env: Any, tmp_path: Path) -> None:
    from models.tiny_f5 import F5_FOLDER, make_tiny_f5

    python = engine_env("f5")
    make_tiny_f5(tmp_path / "tiny" / F5_FOLDER, python=python)  # the same layout as the random one
    result = measure_f5(tmp_path / "tiny", runs=1)
    assert "error" not in result, result
    assert set(result["nfe"]) == {"8", "16", "32"}
    assert all(r["n"] == 1 and r["rtf_median"] > 0 and r["audio_s"] > 0 for r in result["nfe"].values())
