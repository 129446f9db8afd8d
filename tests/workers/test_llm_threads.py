"""How many torch threads each in-process LLM process takes (workers/engines/llm/transformers_local.py)."""

from __future__ import annotations

import os

from avatar.settings import Settings
from workers.engines.llm.transformers_local import cpu_threads


def test_each_llm_process_takes_its_share_of_the_cores_unless_told() -> None:
    cores = len(os.sched_getaffinity(0))
    assert cpu_threads(Settings(_env_file=None, llm_concurrency=1, llm_cpu_threads=0)) == cores
    assert cpu_threads(Settings(_env_file=None, llm_concurrency=2, llm_cpu_threads=0)) == max(1, cores // 2)
    # more processes than cores: one thread each, never none
    assert cpu_threads(Settings(_env_file=None, llm_concurrency=cores + 3, llm_cpu_threads=0)) == 1
    assert cpu_threads(Settings(_env_file=None, llm_concurrency=2, llm_cpu_threads=3)) == 3  # told
