"""vLLM's time to first token and tokens/s for ``bench.gpu``: its OpenAI-compatible server (what
the ``openai`` engine talks to in production) and a streaming client at 1, 2, 4 and 8 requests
started together.

Prompts are token ids (the completions API takes them) and replies are ``ignore_eos`` with a
fixed ``max_tokens``: a random model then prefills and decodes exactly what a real one would.
Two prompt lengths separate the per-request overhead (a few tokens) from the prefill (the
planner's ``llm_prompt_tokens``). Stdlib only: this runs in whatever interpreter starts
``bench.gpu`` on a bare GPU box (``cli.vllm_server`` needs the project's own dependencies).
"""

from __future__ import annotations

import http.client
import itertools
import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.gpu_figures import percentile

CONCURRENCY = (1, 2, 4, 8)
SHORT_PROMPT_TOKENS = 8
SERVED_NAME = "bench"


class ServerFailed(RuntimeError):
    pass


class Server:
    """``python -m vllm.entrypoints.openai.api_server`` as a child in its own process group."""

    def __init__(self, python: Path, model: Path, port: int, log: Path, extra: Sequence[str] = (),
                 env: dict[str, str] | None = None) -> None:
        self.argv = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
                     "--served-model-name", SERVED_NAME, "--host", "127.0.0.1", "--port", str(port),
                     "--dtype", "bfloat16", *extra]
        self.port, self.log = port, log
        self.env = {**os.environ, "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None
        self.start_s: float | None = None

    def start(self, timeout_s: float) -> None:
        started = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        while time.monotonic() - started < timeout_s:
            if self.proc.poll() is not None:
                raise ServerFailed(f"vLLM exited with {self.proc.returncode} before serving: {self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        self.start_s = time.monotonic() - started
                        return
            except OSError:
                pass
            time.sleep(1.0)
        self.stop()
        raise ServerFailed(f"vLLM did not serve within {timeout_s:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 8) -> str:
        try:
            return " / ".join(self.log.read_text(errors="replace").strip().splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass


def one_request(port: int, prompt_tokens: int, reply_tokens: int, seed: int) -> dict[str, float]:
    """One streamed completion: seconds to the first token, and decode tokens/s after it."""
    prompt = [100 + (seed * 7919 + i * 104729) % 800 for i in range(prompt_tokens)]  # ids every vocabulary has
    body = json.dumps({"model": SERVED_NAME, "prompt": prompt, "max_tokens": reply_tokens, "min_tokens": reply_tokens,
                       "ignore_eos": True, "temperature": 0.0, "stream": True,
                       "stream_options": {"include_usage": True}})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    started = time.perf_counter()
    conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    if response.status != 200:
        raise ServerFailed(f"HTTP {response.status}: {response.read()[:300]!r}")
    first = last = None
    tokens = 0
    for raw in response:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        chunk = json.loads(line[6:])
        if chunk.get("choices"):
            last = time.perf_counter()
            first = first or last
        if chunk.get("usage"):
            tokens = chunk["usage"]["completion_tokens"]
    conn.close()
    if first is None:
        raise ServerFailed("the stream held no token")
    rate = (tokens - 1) / (last - first) if tokens > 1 and last > first else float("nan")
    return {"ttft_s": first - started, "tokens_per_s": rate, "tokens": tokens}


def _stats(values: list[float]) -> dict[str, float]:
    values = [v for v in values if v == v]
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95),
            "p5": percentile(values, 5)}


def measure(port: int, prompt_tokens: int, reply_tokens: int, rounds: int, deadline: float,
            levels: Sequence[int] = CONCURRENCY, requests: int | None = None) -> dict[str, Any]:
    """TTFT of a short prompt (the overhead) then, per level, ``rounds`` rounds of ``level``
    requests started together (``requests``: as many rounds as make at least that many requests
    at each level); stops at ``deadline`` (time.monotonic) keeping finished levels."""
    one_request(port, prompt_tokens, 2, seed=0)  # warm-up: first-request compilation, allocator
    short = [one_request(port, SHORT_PROMPT_TOKENS, 2, seed=s)["ttft_s"] for s in range(3)]
    out: dict[str, Any] = {"prompt_tokens": prompt_tokens, "reply_tokens": reply_tokens,
                           "short_prompt_tokens": SHORT_PROMPT_TOKENS, "short_ttft_s": _stats(short), "levels": {}}
    # Every request its own prompt: vLLM caches prefixes, and a prompt repeated at the next level
    # would skip its prefill there (a real session's question is new).
    seeds = itertools.count(1)
    for level in levels:
        if time.monotonic() > deadline:
            out["cut_short"] = f"stopped before concurrency {level}: the step's time budget ran out"
            break
        results: list[dict[str, float]] = []
        errors: list[str] = []
        lock = threading.Lock()

        def run(seed: int) -> None:
            try:
                r = one_request(port, prompt_tokens, reply_tokens, seed)
            except (OSError, ServerFailed, ValueError) as exc:
                with lock:
                    errors.append(str(exc))
                return
            with lock:
                results.append(r)

        for _ in range(rounds if requests is None else -(-requests // level)):
            threads = [threading.Thread(target=run, args=(next(seeds),)) for _ in range(level)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if errors:
            raise ServerFailed(f"at concurrency {level}: {errors[0]}")
        out["levels"][str(level)] = {"ttft_s": _stats([r["ttft_s"] for r in results]),
                                     "tokens_per_s": _stats([r["tokens_per_s"] for r in results])}
    return out


__all__ = ["CONCURRENCY", "Server", "ServerFailed", "measure", "one_request"]
