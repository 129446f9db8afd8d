"""Worker metrics: prometheus-client multiprocess mode, as ``avatar worker`` sets it up.

A real subprocess plays the Celery prefork parent: it prepares the multiprocess directory
before importing prometheus_client, serves the merged registry over HTTP, and forks a child
that records through the same helpers the lanes call. The test scrapes the parent over a
real socket: what the child recorded must be there.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

PARENT = """
import multiprocessing, sys, time
from pathlib import Path
from avatar import worker_metrics
worker_metrics.prepare(Path(sys.argv[1]), "tts_fast")
worker_metrics.serve(int(sys.argv[2]), host="127.0.0.1")

def child():
    from avatar.metrics import observe_asr_rtf, observe_llm_ttft, observe_tts_latency
    observe_llm_ttft(0.25, model="tiny")
    observe_tts_latency(0.4, mode="fast", engine="espeak")
    observe_asr_rtf(1.0, 4.0, model="tiny-whisper")

ctx = multiprocessing.get_context("fork")
p = ctx.Process(target=child); p.start(); p.join()
worker_metrics.child_exited(p.pid)
print("ready", flush=True)
time.sleep(60)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_forked_child_samples_reach_the_parents_exporter(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path), str(port)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 30
        while True:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "worker exporter never answered"
        assert 'llm_ttft_seconds_count{model="tiny"} 1.0' in text
        assert 'tts_synthesis_latency_seconds_count{engine="espeak",mode="fast"} 1.0' in text
        assert 'asr_rtf_sum{model="tiny-whisper"} 0.25' in text
    finally:
        proc.kill()
        proc.wait()
