"""``bench.engines`` on the tiny models: every measurement runs through AVATAR's engines (the
F5, CosyVoice and vLLM parts in their engine environments, with their real packages) and the
section renders with its labels (the figures of a tiny model mean nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from avatar.model_files import write_random_weights
from bench.engines import QUESTION, measure_asr, measure_cosyvoice, measure_f5, measure_llm
from bench.engines_render import render
from bench.engines_vllm import measure_vllm
from bench.report import machine_info
from models.real_size import RANDOM_MODELS


def test_llm_and_asr_measurements_and_the_section(tiny_models_dir: Path) -> None:
    llm = measure_llm(tiny_models_dir / "tiny" / "llm", runs=2, levels=(1, 2))
    assert set(llm) == {1, 2}
    for level in llm.values():
        assert level["ttft_s"]["n"] == 2 and level["ttft_s"]["median"] > 0
        assert level["tokens_per_s"]["median"] > 0
    asr = measure_asr(tiny_models_dir / "tiny" / "asr", runs=2, lengths=(2,))
    assert asr[2]["n"] == 2 and asr[2]["median"] > 0
    section = render(machine_info(), {"llm": {"tiny": llm}, "asr": {"tiny": asr}}, "python -m bench.engines")
    assert section.startswith("<!-- bench:engines:start -->") and section.rstrip().endswith("<!-- bench:engines:end -->")
    assert "random weights, real size, measured here" in section
    assert "| tiny | 2 | 2 |" in section and "| tiny | 2 | 2 | " in section.split("bench:engines-asr:start")[1]
    assert "*f5*: not measured yet" in section and "*cosyvoice*: not measured yet" in section


def test_a_run_of_some_parts_keeps_the_others_as_measured(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    machine = machine_info()
    first = render(machine, {"f5": {"error": "the f5 env is missing"}, "llm": {}}, "python -m bench.engines --only f5")
    doc.write_text("# AVATAR benchmarks\n\n" + first)
    again = render(machine, {"cosyvoice": {"error": "no env"}}, "python -m bench.engines --only cosyvoice", doc)
    f5_part = again.split("<!-- bench:engines-f5:start -->")[1].split("<!-- bench:engines-f5:end -->")[0]
    assert "Not measured: the f5 env is missing" in f5_part and "--only f5" in f5_part
    cosy_part = again.split("<!-- bench:engines-cosyvoice:start -->")[1].split("<!-- bench:engines-cosyvoice:end -->")[0]
    assert "Not measured: no env" in cosy_part and "--only cosyvoice" in cosy_part
    assert again.count("<!-- bench:engines-f5:start -->") == 1


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


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_cosyvoice_speed_streams_the_fixed_speech_length_in_its_engine_env(engine_env: Any, tmp_path: Path) -> None:
    """The tiny CosyVoice 2 with the real-size model's declaration: the engine holds each clause
    to 5 speech tokens a character (0.04 s of audio a token), so the 50-character reply is 10 s."""
    from models.tiny_cosyvoice import make_tiny_cosyvoice2

    folder = make_tiny_cosyvoice2(tmp_path / "cosyvoice2", python=engine_env("cosyvoice"))
    write_random_weights(folder, RANDOM_MODELS["cosyvoice2-0.5b"].stand_in)
    result = measure_cosyvoice(folder, runs=2)
    assert "error" not in result, result
    assert result["rtf"]["n"] == 2 and result["text_chars"] == 50
    assert [run["audio_s"] for run in result["runs"]] == [pytest.approx(10.0), pytest.approx(10.0)]
    assert all(0 < run["first_chunk_s"] < run["seconds"] for run in result["runs"])
    assert result["rtf"]["median"] > 0


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_vllm_part_serves_the_tiny_model_in_its_engine_env(engine_env: Any, tiny_models_dir: Path) -> None:
    engine_env("vllm")
    result = measure_vllm(tiny_models_dir / "tiny" / "vllm-qwen2", runs=2, question=QUESTION, levels=(1, 2),
                          timeout_s=900)
    assert "error" not in result, result
    assert result["prompt_tokens"] > 10 and result["server_start_s"] > 0
    assert set(result["levels"]) == {"1", "2"}
    assert all(level["ttft_s"]["n"] == 2 and level["tokens_per_s"]["median"] > 0 for level in result["levels"].values())
