"""The seed's latency metrics, recorded by real lane workers during a real turn and scraped
from each worker's exporter (and the shared-state gauges from the API).

Engines: the deterministic benchmark LLM and TTS (no weights needed; the metrics code path
is the same for every engine).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import make_system
from tests.system import System, free_port, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, dict[str, int]]]:
    tmp = tmp_path_factory.mktemp("deploy")
    system = make_system(tmp, "deploy", tmp / "models", AVATAR_PROFILE="cpu", AVATAR_LLM_ENGINE="benchmark",
                         AVATAR_TTS_FAST_ENGINE="benchmark", AVATAR_TTS_HQ_ENGINE="benchmark")
    ports: dict[str, int] = {}
    try:
        system.start_api()
        for lane in ("llm", "tts_fast"):  # one exporter port per worker, as one container each
            ports[lane] = free_port()
            system.env["AVATAR_WORKER_METRICS_PORT"] = str(ports[lane])
            system.start_worker(lane)
        system.wait_for_lanes("llm", "tts_fast")
        yield system, ports
    finally:
        system.stop_all()


def scrape(port: int) -> str:
    return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text


def sample(text: str, pattern: str) -> float:
    match = re.search(rf"^{pattern} ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def test_a_turn_records_ttft_tts_latency_and_e2e(system: tuple[System, dict[str, int]]) -> None:
    sys_, ports = system
    out = sys_.run_cli("chat", "你好", "--url", sys_.base_url)
    assert "turn" in out.stdout, out.stdout + out.stderr

    def ttft_recorded() -> str | None:
        text = scrape(ports["llm"])
        return text if sample(text, r'llm_ttft_seconds_count\{model="benchmark"\}') else None

    llm = wait_until(ttft_recorded, 30, "llm_ttft_seconds on the llm worker's exporter")
    assert sample(llm, r'llm_ttft_seconds_count\{model="benchmark"\}') == 1

    def tts_done() -> str | None:
        text = scrape(ports["tts_fast"])
        return text if sample(text, r'conversation_e2e_latency_seconds_count') >= 1 else None

    tts = wait_until(tts_done, 30, "conversation_e2e_latency_seconds on the tts_fast worker")
    assert sample(tts, r'tts_synthesis_latency_seconds_count\{engine="benchmark",mode="fast"\}') >= 1
    assert sample(tts, r"conversation_e2e_latency_seconds_sum") > 0

    api = httpx.get(f"{sys_.base_url}/api/v1/metrics", timeout=10).text
    assert "active_sessions_count" in api and 'avatar_queue_length{lane="tts_fast"}' in api
    assert 'gpu_budget_mb{gpu="0"}' in api
