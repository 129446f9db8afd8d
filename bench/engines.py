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
- **F5-TTS** (the ``f5`` engine in its engine environment): real-time factor at NFE 8/16/32
  for one sentence, in that environment's python (``bench/f5_speed.py``).

Every figure is labelled "random weights, real size, measured here" in the section it writes.
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
from bench.report import machine_info, percentile, write_section
from models.real_size import ASR_TOKENS_PER_S, REPLY_TOKENS, make_random_models, random_models_dir

LLM_MODELS = ("qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct")
ASR_MODELS = ("faster-whisper-small", "faster-whisper-large-v3-turbo")
CONCURRENCY = (1, 2, 4)
UTTERANCE_S = (2, 5, 10)
QUESTION = "今天台北天氣怎麼樣？我下午想去淡水走走，有什麼建議嗎？"
NFE = (8, 16, 32)


def _stats(values: Sequence[float]) -> dict[str, float]:
    # p5: for a rate the slow tail is the low one
    return {"n": len(values), "median": percentile(values, 50), "p95": percentile(values, 95),
            "p5": percentile(values, 5)}


def measure_llm(model_dir: Path, runs: int, levels: Sequence[int] = CONCURRENCY) -> dict[int, dict[str, Any]]:
    from workers.engines.llm.transformers_local import TransformersLLM

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


def measure_f5(models: Path, runs: int, timeout_s: float = 3600) -> dict[str, Any]:
    """In the f5 env's python; a run cut short by ``timeout_s`` keeps the step counts it finished."""
    python = engine_envs.python_of("f5")
    if (why := engine_envs.missing("f5")) is not None:
        return {"error": why}
    argv = [str(python), "-m", "bench.f5_speed", "--models", str(models), "--runs", str(runs), *[f"--nfe={n}" for n in NFE]]
    try:
        done = subprocess.run(argv, cwd=engine_envs.REPO, capture_output=True, text=True, timeout=timeout_s)
        stdout, failed = done.stdout, done.returncode != 0
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
    except subprocess.TimeoutExpired as exc:
        stdout, failed = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), True
        tail = [f"stopped after {timeout_s:.0f} s"]
    results = [line for line in stdout.splitlines() if line.startswith('{"nfe"')]
    if not results:
        return {"error": " / ".join(tail) if failed else "no result"}
    found = json.loads(results[-1])
    if failed:
        found["note"] = f"cut short ({' / '.join(tail)}): the step counts not listed did not finish"
    return found


def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def render(machine: dict[str, str], llm: dict[str, Any], asr: dict[str, Any], f5: dict[str, Any], command: str) -> str:
    lines = [
        "<!-- bench:engines:start -->",
        "## Per-engine speed at real size on this machine (**random weights, real size, measured here**)",
        "",
        f"Written by `{command}` (`bench/engines.py`). The models are `avatar models random`'s: each",
        "engine's real architecture and dimensions with random weights, in the format it loads, run",
        "by AVATAR's own engine classes; what they generate has a fixed length (a reply of",
        f"{REPLY_TOKENS} tokens, about 50 characters; {ASR_TOKENS_PER_S} transcript tokens per second of",
        "speech), so the cost is the real models'. P95 interpolates between ranks: with fewer than",
        "20 runs it sits close to the maximum. The machine was shared with other work (load average).",
        "",
        "| machine | |", "| --- | --- |", *[f"| {k} | {v} |" for k, v in machine.items()], "",
        "**LLM, `transformers` engine on CPU (bf16 weights as released, `dtype=\"auto\"`)**: time to",
        "first token (the prompt's prefill) and decode tokens/s per request, at 1, 2 and 4",
        "requests started together.",
        "",
        "| model | concurrent | runs | TTFT median (s) | TTFT P95 (s) | tokens/s median | tokens/s P95 (slowest 5 %) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, levels in llm.items():
        for level, r in levels.items():
            lines.append(f"| {name} | {level} | {r['ttft_s']['n']} | {_f(r['ttft_s']['median'])} | {_f(r['ttft_s']['p95'])} "
                         f"| {_f(r['tokens_per_s']['median'])} | {_f(r['tokens_per_s']['p5'])} |")
    lines += ["", "**ASR, faster-whisper (CTranslate2 int8 on CPU, beam 5 as configured)**: seconds per utterance.",
              "Whisper encodes a 30 s window whatever the utterance's length, so the encoder's cost is a",
              "floor that short utterances pay in full (large-v3-turbo keeps large-v3's 32 encoder layers).", "",
              "| model | utterance (s) | runs | median (s) | P95 (s) | real-time factor (median) |",
              "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, lengths in asr.items():
        for seconds, r in lengths.items():
            lines.append(f"| {name} | {seconds} | {r['n']} | {_f(r['median'])} | {_f(r['p95'])} | {_f(r['median'] / seconds, 3)} |")
    lines += ["", "**F5-TTS v1 Base + Vocos, `f5` engine on CPU (its engine environment)**: one sentence after a",
              "reference clip; real-time factor = synthesis seconds / seconds of audio produced.", ""]
    if "error" in f5:
        lines.append(f"Not measured: {f5['error']}")
    else:
        lines += ["| NFE | runs | seconds median | RTF median | RTF P95 |", "| ---: | ---: | ---: | ---: | ---: |"]
        for nfe, r in f5["nfe"].items():
            lines.append(f"| {nfe} | {r['n']} | {_f(r['seconds'])} | {_f(r['rtf_median'], 3)} | {_f(r['rtf_p95'], 3)} |")
        if "note" in f5:
            lines += ["", f5["note"]]
    lines.append("<!-- bench:engines:end -->")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="requests or utterances per measured cell")
    parser.add_argument("--f5-runs", type=int, default=2)
    parser.add_argument("--f5-timeout", type=float, default=3600, help="seconds before the F5 part stops")
    parser.add_argument("--only", action="append", choices=("llm", "asr", "f5"), help="a part (repeat)")
    parser.add_argument("--llm", action="append", choices=LLM_MODELS, help="LLM sizes (default both)")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args(argv)
    parts = args.only or ["llm", "asr", "f5"]
    settings = Settings()
    root = random_models_dir(settings.resolved_models_dir)
    needed = [*(args.llm or LLM_MODELS if "llm" in parts else ()), *(ASR_MODELS if "asr" in parts else ()),
              *(["f5-tts-v1-base"] if "f5" in parts else ())]
    make_random_models(settings.resolved_models_dir, needed)
    machine = machine_info()
    llm = {name: measure_llm(root / name, args.runs) for name in (args.llm or LLM_MODELS)} if "llm" in parts else {}
    asr = {name: measure_asr(root / name, args.runs) for name in ASR_MODELS} if "asr" in parts else {}
    f5 = measure_f5(root / "f5-tts-v1-base", args.f5_runs, args.f5_timeout) if "f5" in parts else {"error": "not run (--only)"}
    command = "python -m bench.engines " + " ".join(argv if argv is not None else sys.argv[1:])
    write_section(args.out, render(machine, llm, asr, f5, command.strip()), name="engines")
    print(f"wrote the engines section of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
