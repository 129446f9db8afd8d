"""``bench.contention`` on the tiny models: real engine processes run together, each job's
records become the alone and together tables, and the capacity planner reads those tables
back (the figures of a tiny model mean nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.contention import SCENARIOS, job_rows, render_results, row_samples, run_scenario, summarise
from bench.report import machine_info, percentile, write_section
from capacity.bench_doc import Cell
from capacity.cpu_contention import ALONE, CONTENTION, TOGETHER


@pytest.mark.timeout(600)
def test_engine_processes_run_together_and_their_tables_read_back(tiny_models_dir: Path, tmp_path: Path) -> None:
    models = {"llm": str(tiny_models_dir / "tiny" / "llm"), "asr": str(tiny_models_dir / "tiny" / "asr")}
    chosen = {s.name: s for s in SCENARIOS}
    seconds = 4.0
    results = [run_scenario(chosen[name], models, seconds, min_runs=1, log=lambda _: None)
               for name in ("LLM alone", "ASR alone", "LLM + ASR final")]
    for result, name in zip(results, ("LLM alone", "ASR alone", "LLM + ASR final")):
        assert len(result["workers"]) == len(chosen[name].workers)
        for worker in result["workers"]:
            assert worker["records"], (name, worker["jobs"])  # every process finished a job in the window
            # only jobs that ended inside the window are kept, so each ran beside every other process
            start, end = result["window"]
            assert end - start >= seconds and all(r["end_wall"] <= end for r in worker["records"])
            assert worker["cpu_s"] > 0 and worker["threads"]["asr"] == 2
    mix = results[2]
    assert sorted(w["jobs"] for w in mix["workers"]) == [("final:5",), ("llm",)]

    figures = summarise(results)
    alone_rows = {row for job in ("llm", "final:2", "final:5", "partial:2", "partial:5") for row in job_rows(job)}
    assert set(figures["alone"]) == alone_rows
    final = job_rows("final:5")[0]
    mixed = next(m for m in figures["mixes"] if m["row"] == final)
    times = [t for t, _ in row_samples(mix)[final]]
    assert mixed["median"] == pytest.approx(percentile(times, 50))
    assert mixed["speed"] == pytest.approx(figures["alone"][final]["median"] / mixed["median"])
    assert mixed["threads"] == figures["alone"][final]["threads"] + figures["alone"][job_rows("llm")[0]]["threads"]

    doc = tmp_path / "benchmarks.md"
    section = render_results(results, machine_info(), "python -m bench.contention --seconds 4", 0.2)
    write_section(doc, section, name="contention")
    assert "random weights, real size, measured here" in section and "Not run this time" in section
    busy = Cell(CONTENTION, (final,), "busy cores", ALONE).value(doc)
    assert busy == pytest.approx(figures["alone"][final]["busy"], abs=0.006)
    speed = Cell(CONTENTION, ("LLM + ASR final", final), "speed (alone = 1)", TOGETHER).value(doc)
    assert speed == pytest.approx(mixed["speed"], abs=0.006)
