"""The cpu layout's sharing rule (capacity/cpu_sharing.py) and its inputs from the contention
benchmark (capacity/cpu_contention.py). Pure computation; docs/benchmarks.md as it stands."""

from __future__ import annotations

import pytest

import bench.contention
from avatar.settings import Settings
from capacity.cpu_contention import MIXES, PARTIAL_ROWS, ROWS, contention_inputs, job_kinds
from capacity.cpu_sharing import (
    JobKind,
    allotted,
    efficiency,
    efficiency_curve,
    measured_efficiency,
    oversubscription,
    sharing_speeds,
    speeds,
)


def test_jobs_that_fit_in_the_cores_run_as_alone() -> None:
    jobs = [JobKind(threads=2, busy=1.2), JobKind(threads=1, busy=0.7)]
    assert allotted(jobs, 2) == [1.2, 0.7]
    assert speeds(jobs, 2) == [1.0, 1.0]  # 3 threads, but never more than 2 cores' worth of work


def test_oversubscribed_cores_go_to_threads_equally_and_a_job_that_needs_less_leaves_the_rest() -> None:
    two = [JobKind(2, 2), JobKind(2, 2)]
    assert allotted(two, 2) == pytest.approx([1, 1])
    # a 1-thread job busy 0.3 core takes its 0.3; the two 2-thread jobs split the other 1.7
    mixed = [JobKind(2, 2), JobKind(2, 1.9), JobKind(1, 0.3)]
    got = allotted(mixed, 2)
    assert sum(got) == pytest.approx(2) and got[2] == pytest.approx(0.3)
    assert got[0] == pytest.approx(0.85) and got[1] == pytest.approx(0.85)
    assert sharing_speeds(mixed, 2) == pytest.approx([0.85 / 2, 0.85 / 1.9, 1.0])
    # threads weigh: a 2-thread job gets twice a 1-thread job's share
    assert allotted([JobKind(2, 2), JobKind(1, 1), JobKind(1, 1)], 2) == pytest.approx([1, 0.5, 0.5])


def test_the_efficiency_runs_in_straight_lines_between_the_measured_oversubscriptions() -> None:
    job = JobKind(2, 2, efficiency=((2.0, 0.8), (4.0, 0.5)))
    assert efficiency(job, 0.5) == 1.0 and efficiency(job, 1.0) == 1.0
    assert efficiency(job, 1.5) == pytest.approx(0.9) and efficiency(job, 3.0) == pytest.approx(0.65)
    assert efficiency(job, 6.0) == 0.5  # held beyond the heaviest mix
    two = [job, JobKind(2, 2)]
    assert oversubscription(two, 2) == 2
    assert speeds(two, 2) == pytest.approx([0.5 * 0.8, 0.5])


def test_a_measured_speed_gives_back_the_efficiency_it_was_made_with() -> None:
    me, others = JobKind(2, 1.8), [JobKind(2, 2), JobKind(1, 1)]
    over, e = measured_efficiency(me, others, speed=sharing_speeds([me, *others], 2)[0] * 0.6, cores=2)
    assert over == 2.5 and e == pytest.approx(0.6)
    curve = efficiency_curve([(2.0, 0.6), (4.0, 0.3), (2.0, 0.8)])  # one point per oversubscription: their mean
    assert [o for o, _ in curve] == [2.0, 4.0] and [e for _, e in curve] == pytest.approx([0.7, 0.3])


def test_the_mirrors_match_the_contention_benchmark() -> None:
    scenarios = {s.name: s for s in bench.contention.SCENARIOS}
    llm_rows = bench.contention.job_rows("llm")
    assert [ROWS["prefill"], ROWS["decode"]] == llm_rows
    asr = {"asr_final": "final:5", "asr_partial": "partial:5"}
    assert all(bench.contention.job_rows(job) == [ROWS[kind]] for kind, job in asr.items())
    assert {s: (bench.contention.job_rows(f"final:{s}")[0], bench.contention.job_rows(f"partial:{s}")[0])
            for s in PARTIAL_ROWS} == PARTIAL_ROWS
    alone = [job for s in scenarios.values() if s.alone for w in s.workers for job in w]
    assert {f"final:{s}" for s in PARTIAL_ROWS} | {f"partial:{s}" for s in PARTIAL_ROWS} | {"llm"} <= set(alone)
    for mix, processes in MIXES.values():
        assert mix in scenarios and not scenarios[mix].alone
        assert [w[0] if w != ("llm",) else "llm" for w in scenarios[mix].workers] == \
               ["llm" if p == "llm" else asr[p] for p in processes]


def test_every_contention_input_is_read_from_its_row_with_a_source() -> None:
    inputs = contention_inputs()
    measured = [n for n, f in inputs.items() if n.startswith("speed_") or n.endswith(("_busy_cores", "_alone_s"))]
    speeds = 2 + 3 + 3 + 4  # each mix: its jobs (an LLM process gives two: prefill and decode)
    assert len(measured) == speeds + len(ROWS) + 2 * len(PARTIAL_ROWS)
    assert all(inputs[n].kind == "measured-here" and "CPU contention" in inputs[n].source for n in measured)
    assert inputs["asr_threads"].value == Settings().asr_cpu_threads
    assert inputs["sharing_rule"].kind == "published" and "https://" in inputs["sharing_rule"].source


def test_each_engine_gets_an_efficiency_at_every_oversubscription_a_mix_ran() -> None:
    x = {n: f.value for n, f in contention_inputs().items()}
    kinds = job_kinds(x)
    threads = {"prefill": x["llm_threads"], "asr_final": x["asr_threads"]}
    heavy = (2 * x["llm_threads"] + 2 * x["asr_threads"]) / x["cores"]  # the voice mix
    for kind in ROWS:
        assert [o for o, _ in kinds[kind].efficiency][-1] == pytest.approx(heavy), kind
        assert all(e > 0 for _, e in kinds[kind].efficiency)
    assert kinds["prefill"].threads == threads["prefill"] and kinds["asr_final"].threads == threads["asr_final"]
    assert kinds["prosody"].efficiency == () and kinds["lite"].busy == 1
