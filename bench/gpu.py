"""The GPU measurement, ready to run on a box with an NVIDIA GPU and no internet::

    python -m bench.gpu --pack-wheels DIR [--python-version 3.12]   # here, with PyPI: the wheelhouse
    python3 -m bench.gpu --wheels DIR --out gpu-figures.json        # on the GPU box
    python -m bench.gpu --dry-run --out dry.json                     # on a CPU: tiny models, same path
    avatar capacity --sessions 20 --gpu-figures gpu-figures.json

Steps, each printing ``[elapsed] ...`` lines: (a) install each group's environment from the
wheelhouse (:mod:`bench.gpu_envs`); (b) build the real-size random models (Qwen2.5-7B shape bf16,
Whisper large-v3-turbo float16, F5-TTS v1 Base, CosyVoice2-0.5B; :mod:`models.real_size`); (c) measure, each part
in its environment: faster-whisper (``cuda``, float16) per 2/5/10 s utterance, F5-TTS at NFE 16
and 32, CosyVoice, and vLLM's TTFT and tokens/s at 1/2/4/8 concurrent (:mod:`bench.gpu_llm`);
(d) each part's peak GPU memory (NVML, sampled; torch's ``max_memory_allocated`` where the
engine allocates through torch) against ``gpu_scheduler/registry.py`` at 10 %; (e) the figures
file (:mod:`capacity.measured`). Building and measuring share ``--budget-s`` (8 minutes): a part
that would not fit in what is left is skipped and recorded with the reason.

Not measured, and recorded so: **AWQ** (a real AWQ checkpoint is the output of quantising fp16
weights with AutoAWQ or llm-compressor over calibration text; neither runs offline here, and a
hand-packed random int4 layout has not been seen to load in vLLM, so none is faked), and
**CosyVoice 3** (the cosyvoice env's package has no CosyVoice3 class: CosyVoice2-0.5B is measured,
and its figures do not replace the planner's CosyVoice 3 RTF).

The orchestration is stdlib only (and :mod:`capacity`/``gpu_scheduler``'s stdlib modules): a
bare GPU box starts it with its system python; the engines run in their own environments.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import gpu_envs, gpu_figures, gpu_llm
from capacity.figures import FIGURES
from capacity.measured import DRY_RUN, FORMAT, MEASURED
# bench.engines' fixed lengths (not imported: that module needs the project's dependencies)
REPLY_TOKENS = 40  # models.real_size.REPLY_TOKENS
ASR_TOKENS_PER_S = 5  # models.real_size.ASR_TOKENS_PER_S
PARTS = ("asr", "f5", "cosyvoice", "llm")
# (seconds a part needs at least, seconds it may take at most) on a GPU / in the dry run.
GPU_STEPS = {"build": (60, 300), "asr": (30, 90), "f5": (40, 120), "cosyvoice": (40, 120), "llm": (120, 400)}
DRY_STEPS = {"build": (5, 120), "asr": (5, 60), "f5": (10, 120), "cosyvoice": (10, 180), "llm": (40, 240)}
AWQ_GAP = ("AWQ not built: a real AWQ checkpoint comes from quantising fp16 weights over calibration text "
           "(AutoAWQ / llm-compressor), which does not run offline here; a hand-packed random int4 layout has not "
           "been seen to load in vLLM, so none is faked. The AWQ figures (qwen_awq_a100_tok_s) stay published")


class Run:
    def __init__(self, budget_s: float, dry_run: bool) -> None:
        self.started = time.monotonic()
        self.deadline = self.started + budget_s
        self.dry_run = dry_run
        self.skipped: list[dict[str, str]] = []
        self.timeline: list[dict[str, Any]] = []

    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.started:6.1f}s] {message}", flush=True)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def fits(self, step: str) -> float | None:
        """The step's timeout, or None (recorded as skipped) when what is left is too little."""
        need, cap = (DRY_STEPS if self.dry_run else GPU_STEPS)[step]
        if self.left() < need:
            self.skip(step, f"needs about {need} s, {max(0.0, self.left()):.0f} s of the budget left")
            return None
        return min(cap, self.left())

    def skip(self, step: str, reason: str) -> None:
        self.log(f"skip {step}: {reason}")
        self.skipped.append({"step": step, "reason": reason})


class MemoryPeak:
    """Device memory in use (MiB), sampled every 0.2 s while a step runs: NVML if pynvml imports,
    else ``nvidia-smi``; ``peak - baseline`` is what the step added."""

    def __init__(self, enabled: bool) -> None:
        self.enabled, self.why = enabled, "" if enabled else "no GPU (dry run): no memory readings"
        self._nvml = None
        if enabled:
            try:
                import pynvml

                pynvml.nvmlInit()
                self._nvml = pynvml.nvmlDeviceGetHandleByIndex(0)
                self._pynvml = pynvml
            except Exception:  # noqa: BLE001 - absent or unusable: nvidia-smi below
                if shutil.which("nvidia-smi") is None:
                    self.enabled, self.why = False, "neither pynvml nor nvidia-smi works here"

    def used_mib(self) -> float | None:
        if not self.enabled:
            return None
        if self._nvml is not None:
            return self._pynvml.nvmlDeviceGetMemoryInfo(self._nvml).used / 2**20
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits", "-i", "0"],
                             capture_output=True, text=True)
        return float(out.stdout.strip().splitlines()[0]) if out.returncode == 0 and out.stdout.strip() else None

    def during(self, work):  # noqa: ANN001, ANN201
        """``work()``'s result; what it added at its peak is then ``last_peak_mib`` (None: no readings)."""
        self.last_peak_mib = None
        if not self.enabled:
            return work()
        baseline, peak, stop = self.used_mib() or 0.0, [0.0], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], self.used_mib() or 0.0)
                stop.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            return work()
        finally:
            stop.set()
            sampler.join()
            self.last_peak_mib = round(max(0.0, peak[0] - baseline), 1)


def gpu_info(dry_run: bool) -> dict[str, Any]:
    if dry_run:
        return {"name": gpu_figures.DRY_RUN_SPEC[0], "driver": None, "memory_mib": None}
    out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits",
                          "-i", "0"], capture_output=True, text=True)
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit(f"no NVIDIA GPU answers nvidia-smi ({out.stderr.strip()}); use --dry-run on a CPU")
    name, driver, memory = [v.strip() for v in out.stdout.strip().splitlines()[0].split(",")]
    return {"name": name, "driver": driver, "memory_mib": float(memory)}


def in_env(run: Run, python: Path, argv: list[str], timeout: float) -> tuple[dict[str, Any] | None, float | None, str]:
    """Run ``python -m bench.gpu_measure ARGV``: (the last result or partial, torch peak MiB, error)."""
    proc = subprocess.Popen([str(python), "-m", "bench.gpu_measure", *argv], cwd=gpu_envs.engine_envs.REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace")
    found: dict[str, Any] | None = None
    torch_peak, tail = None, []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            tail = (tail + [line.rstrip()])[-6:]
            if line.startswith(('{"result"', '{"partial"')):
                record = json.loads(line)
                found = {"done": "result" in record, "value": record.get("result", record.get("partial"))}
                torch_peak = record.get("torch_peak_mib")
        code = proc.wait()
    finally:
        timer.cancel()
    error = "" if code == 0 else (f"stopped at its {timeout:.0f} s limit" if code < 0 else f"exit {code}: "
                                  + " / ".join(tail))
    return found, torch_peak, error


def measure_part(run: Run, part: str, python: Path, model: Path, memory: MemoryPeak, results: dict[str, Any],
                 checks: list[dict[str, Any]], tiny: bool) -> None:
    timeout = run.fits(part)
    if timeout is None:
        return
    device = "cpu" if run.dry_run else "cuda"
    runs = "1" if run.dry_run else "5"
    argv = {"asr": ["asr", "--model", str(model), "--device", device, "--runs", runs,
                    "--compute-type", "int8" if run.dry_run else "float16"],
            "f5": ["f5", "--models", str(model), "--device", device, "--runs", runs, "--nfe", "16", "--nfe", "32"],
            "cosyvoice": ["cosyvoice", "--model", str(model), "--device", device, "--runs", runs]}[part]
    run.log(f"measure {part} ({python})")
    found, torch_peak, error = memory.during(lambda: in_env(run, python, argv, timeout))
    nvml = memory.last_peak_mib
    if found:
        results[part] = found["value"]
        run.log(f"{part}: {json.dumps(found['value'])[:300]}")
    if error:
        run.skip(part, f"{'cut short' if found else 'failed'}: {error}")
    checks.append(gpu_figures.memory_check(part, nvml, torch_peak, memory.why, tiny=tiny))


def measure_llm(run: Run, python: Path, model: Path, work: Path, memory: MemoryPeak, results: dict[str, Any],
                checks: list[dict[str, Any]], gpu: dict[str, Any]) -> None:
    timeout = run.fits("llm")
    if timeout is None:
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    if run.dry_run:
        extra, env = ["--max-model-len", "1024"], {"VLLM_CPU_KVCACHE_SPACE": "1"}
    else:  # the weights and the registry's working memory for the LLM (its KV cache), as a share of the GPU
        weights = sum(f.stat().st_size for f in model.glob("*.safetensors")) / 2**20
        share = min(0.9, (weights + gpu_figures.DEFAULT_SPECS[gpu_figures.LLM_VLLM].working_mb) / gpu["memory_mib"])
        extra, env = ["--max-model-len", "2048", "--gpu-memory-utilization", f"{share:.3f}"], {}
    server = gpu_llm.Server(python, model, port, work / "vllm.log", extra, env)
    prompt = int(FIGURES["llm_prompt_tokens"].value)

    def serve_and_measure() -> dict[str, Any]:
        try:
            server.start(timeout_s=timeout)
            run.log(f"vLLM up in {server.start_s:.0f} s; measuring")
            deadline = min(run.deadline, time.monotonic() + timeout - server.start_s)
            return gpu_llm.measure(port, prompt, REPLY_TOKENS, rounds=1 if run.dry_run else 3, deadline=deadline)
        finally:
            server.stop()

    run.log(f"measure llm (bf16, {python})")
    try:
        found = memory.during(serve_and_measure)
    except (gpu_llm.ServerFailed, OSError) as exc:
        run.skip("llm_bf16", f"failed: {exc}")
        return
    results["llm_bf16"] = found | {"server_start_s": server.start_s}
    if "cut_short" in found:
        run.skip("llm_bf16 (higher concurrency)", found["cut_short"])
    run.log(f"llm_bf16: {json.dumps(found['levels'])[:300]}")
    nvml = memory.last_peak_mib
    checks.append(gpu_figures.memory_check("llm_bf16", nvml, None, memory.why, tiny=run.dry_run))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu", description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheels", type=Path, help="the wheelhouse made by --pack-wheels: install from it, offline")
    parser.add_argument("--pack-wheels", type=Path, metavar="DIR", help="download the GPU run's wheels into DIR and stop")
    parser.add_argument("--python-version", default="3.12", help="the GPU box's python, for --pack-wheels")
    parser.add_argument("--out", type=Path, default=Path("var/gpu-figures.json"))
    parser.add_argument("--work", type=Path, default=Path("var/gpu-bench"), help="environments, models, logs")
    parser.add_argument("--dry-run", action="store_true", help="on a CPU with the tiny models: tests the path")
    parser.add_argument("--budget-s", type=float, help="building + measuring (default 480; dry run 300)")
    parser.add_argument("--only", action="append", choices=PARTS, help="a part (repeat; default all)")
    args = parser.parse_args(argv)
    args.command = "python -m bench.gpu " + " ".join(sys.argv[1:] if argv is None else argv)
    if args.pack_wheels:
        gpu_envs.pack(args.pack_wheels, args.python_version)
        print(f"wheelhouse ready: {args.pack_wheels} (copy it and the repository to the GPU box)")
        return 0
    run = Run(args.budget_s or (300 if args.dry_run else 480), args.dry_run)
    gpu = gpu_info(args.dry_run)
    run.log(f"GPU: {gpu['name']} (driver {gpu['driver']}); budget {run.left():.0f} s")
    work = args.work.resolve()
    installed: dict[str, Path] = {}
    if args.wheels:
        started = time.monotonic()
        installed = gpu_envs.install(args.wheels.resolve(), work, log=run.log)
        run.log(f"installed from {args.wheels} in {time.monotonic() - started:.0f} s (not counted in the budget)")
        run.deadline += time.monotonic() - started
    parts = args.only or list(PARTS)
    memory = MemoryPeak(enabled=not args.dry_run)
    results: dict[str, Any] = {}
    checks: list[dict[str, Any]] = []
    build_python, why = gpu_envs.python_for("build", installed, args.dry_run)
    models: dict[str, Path] = {}
    for part in parts:  # (b) the models, each where its engine's package is
        python, why = gpu_envs.python_for(part, installed, args.dry_run)
        if python is None or build_python is None:
            run.skip(part, why)
            continue
        timeout = run.fits("build")
        if timeout is None:
            continue
        dest = work / "models" / ("tiny" if args.dry_run else "random") / part
        flags = ["--tiny"] if args.dry_run else []
        flags += ["--f5-python", str(python)] if part == "f5" else []
        flags += ["--cosyvoice-python", str(python)] if part == "cosyvoice" else []
        run.log(f"build {part} model ({'tiny stand-in' if args.dry_run else 'real size'})")
        found, _, error = in_env(run, build_python, ["build", "--what", part, "--dest", str(dest), *flags], timeout)
        if error or not found:
            run.skip(part, f"its model was not built: {error}")
            continue
        models[part] = dest
    for part in parts:  # (c, d) measure
        if part not in models:
            continue
        python, _ = gpu_envs.python_for(part, installed, args.dry_run)
        if part == "llm":
            measure_llm(run, python, models[part], work, memory, results, checks, gpu)
        else:
            measure_part(run, part, python, models[part], memory, results, checks, tiny=args.dry_run)
    if "llm" in parts:
        run.skip("llm_awq", AWQ_GAP)
    if "cosyvoice" in parts:
        run.skip("cosyvoice3", "CosyVoice 3 has no class in the cosyvoice env's package (cosyvoice-minicpmo): "
                 "CosyVoice2-0.5B is measured in its place; tts_hq_rtf (CosyVoice 3's) stays as planned")
    write(args, run, gpu, results, checks)
    return 0


def write(args: argparse.Namespace, run: Run, gpu: dict[str, Any], results: dict[str, Any],
          checks: list[dict[str, Any]]) -> None:
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    label = f"{'dry run' if args.dry_run else 'measured'} on {gpu['name']} by bench/gpu.py {date}"
    figures, not_mapped = gpu_figures.map_figures(results, gpu_figures.gpu_spec(gpu["name"], args.dry_run), label,
                                                  ASR_TOKENS_PER_S, dry_run=args.dry_run)
    record = {"format": FORMAT, "kind": DRY_RUN if args.dry_run else MEASURED, "gpu": gpu, "date": date,
              "command": args.command,
              "budget_s": round(run.deadline - run.started, 1), "elapsed_s": round(time.monotonic() - run.started, 1),
              "random_weights": "real size" if not args.dry_run else "tiny stand-ins",
              "figures": figures, "not_mapped": not_mapped, "measurements": results, "memory": checks,
              "skipped": run.skipped}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    run.log(f"wrote {args.out}: {len(figures)} planner figures, {len(run.skipped)} skipped")


if __name__ == "__main__":
    raise SystemExit(main())
