"""From ``bench.gpu``'s measurements to the planner's inputs (:mod:`capacity.figures`), and the
GPU-memory check against ``gpu_scheduler/registry.py``. Stdlib only (see :mod:`bench.gpu`).

The planner prices an RTX 4090 from figures published for other GPUs, through fixed rules
(:mod:`capacity.derived`). A measurement replaces a figure only where it means the same thing,
so those rules carry it to the 4090 as they carry the published one:

- ``tts_fast_rtf``: F5-TTS's real-time factor at the configured 16 steps (the published figure
  is the paper's, on an RTX 3090, used unscaled; so is the measured one).
- ``tts_hq_rtf``: CosyVoice's, only from a real-size model (none can be built yet: not replaced).
- ``gpu_matmul_efficiency`` and ``llm_request_overhead_s``: from TTFT at two prompt lengths
  (the short prompt's is the overhead; the long one's extra time is the prefill, whose FLOPs over
  the GPU's published bf16 peak give the efficiency). ``llm_batch_slowdown``: per-request decode
  speed at 1..8 concurrent, fitted to the planner's rule ``tpot(n) = tpot(1) * (1 + s * (n - 1))``.
- ``qwen_awq_a100_tok_s`` with ``a100_bandwidth_gb_s``: decode tokens/s at batch 1 of the *AWQ*
  model and the measured GPU's bandwidth; bf16 weights are 2.7 times larger, so a bf16 figure is
  never used for them.
- Whisper: ``fw_turbo_13min_s`` and ``fw_large_v3_13min_s`` with ``rtx2080ti_fp16_tflops`` and
  ``rtx2080ti_bandwidth_gb_s`` (the reference GPU's specs): the planner splits turbo's time into a
  30 s window and a per-token part; a straight line through the measured 2/5/10 s utterances
  gives both on the measured GPU, written as the two 13-minute figures that split into them
  (``capacity.derived.Inputs.whisper_split_2080ti`` inverted), with that GPU's specs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from capacity.figures import FIGURES
from gpu_scheduler.registry import ASR_WHISPER, DEFAULT_SPECS, LLM_VLLM, TTS_FAST_F5, TTS_HQ_COSYVOICE

NVIDIA_SPECS = "https://www.nvidia.com/en-us/data-center/"
# Published dense bf16/fp16 tensor TFLOPS (FP32 accumulate) and memory bandwidth, by the name
# NVML reports (matched by substring, first match wins): only GPUs whose vendor page was read.
GPU_SPECS: list[tuple[str, float, float, str]] = [
    ("H200", 989.5, 4800.0, f"{NVIDIA_SPECS}h200/ (H200 SXM: 1,979 TFLOPS bf16 with sparsity, 4.8 TB/s)"),
    ("H100 PCIe", 756.0, 2000.0, f"{NVIDIA_SPECS}h100/ (H100 PCIe: 1,513 TFLOPS bf16 with sparsity, 2 TB/s)"),
    ("H100", 989.5, 3350.0, f"{NVIDIA_SPECS}h100/ (H100 SXM: 1,979 TFLOPS bf16 with sparsity, 3.35 TB/s)"),
    ("A100", 312.0, 2039.0, f"{NVIDIA_SPECS}a100/ (A100 80GB SXM: 312 TFLOPS bf16, 2,039 GB/s)"),
    ("L40S", 362.05, 864.0, f"{NVIDIA_SPECS}l40s/ (L40S: 362 TFLOPS bf16 dense, 864 GB/s)"),
    ("RTX 4090", FIGURES["rtx4090_fp16_tflops"].value, FIGURES["rtx4090_bandwidth_gb_s"].value,
     FIGURES["rtx4090_fp16_tflops"].source),
]
# The dry run's stand-in: round numbers, so its file has every figure (kind dry-run, refused).
DRY_RUN_SPEC = ("cpu (dry run)", 1.0, 100.0, "no GPU: placeholder specs of the dry run")
BENCH_WINDOWS = 26  # capacity.derived.BENCH_AUDIO_WINDOWS: 13 min of audio in 30 s windows
F5_CONFIGURED_NFE = "16"  # avatar/settings.py f5_nfe_steps
TOLERANCE = 0.10


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (bench.report's rule); NaN when empty."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def gpu_spec(name: str, dry_run: bool) -> tuple[str, float, float, str] | None:
    if dry_run:
        return DRY_RUN_SPEC
    return next((spec for spec in GPU_SPECS if spec[0].lower() in name.lower()), None)


def _line(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares intercept and slope."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else math.nan
    return my - slope * mx, slope


def map_figures(results: dict[str, Any], spec: tuple[str, float, float, str] | None, label: str,
                tokens_per_s: float, dry_run: bool = False) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """``(figures, not_mapped)``: planner inputs from the results, and each result left out, with why."""
    figures: dict[str, dict[str, Any]] = {}
    gaps: list[dict[str, str]] = []

    def put(name: str, value: float, how: str) -> None:
        if value == value and value > 0 and math.isfinite(value):
            figures[name] = {"value": round(value, 6), "unit": FIGURES[name].unit, "source": f"{label}: {how}"}
        else:
            gaps.append({"figure": name, "why": f"the measurement gave {value!r} ({how})"})

    f5 = results.get("f5", {})  # NFE -> its figures
    if F5_CONFIGURED_NFE in f5:
        put("tts_fast_rtf", f5[F5_CONFIGURED_NFE]["rtf_median"],
            f"F5-TTS v1 Base, NFE {F5_CONFIGURED_NFE}, median RTF of one sentence")
    cosy = results.get("cosyvoice")
    if cosy:
        gaps.append({"figure": "tts_hq_rtf", "why": "CosyVoice2-0.5B was measured (CosyVoice 3 has no class in the "
                     "cosyvoice env's package): CosyVoice 3's flow is a 22-layer DiT where CosyVoice 2's is a 112 M "
                     "U-Net, so its RTF is not CosyVoice 3's" + (" (and a dry run's is a tiny model's)" if dry_run else "")})
    name, tflops, bandwidth, spec_source = spec or ("", 0.0, 0.0, "")
    for variant in ("bf16", "awq"):
        llm = results.get(f"llm_{variant}")
        if not llm or not llm.get("levels"):
            continue
        levels = llm["levels"]
        one = levels.get("1")
        if variant == "awq" and one and spec:
            put("qwen_awq_a100_tok_s", one["tokens_per_s"]["median"], "vLLM, Qwen2.5-7B AWQ shape, batch 1 decode")
            put("a100_bandwidth_gb_s", bandwidth, f"memory bandwidth of the measured GPU ({spec_source})")
        if variant == "bf16" and "awq" not in results:
            gaps.append({"figure": "qwen_awq_a100_tok_s", "why": "decode speed was measured with bf16 weights "
                         "(2.7x the bytes of AWQ's): not the AWQ figure the planner scales"})
        if one and spec:  # bf16 first, then AWQ's (the model the box runs) replaces it
            overhead = llm["short_ttft_s"]["median"]
            prefill = one["ttft_s"]["median"] - overhead
            flop = llm["prompt_tokens"] * 2 * FIGURES["qwen_7b_non_embedding_params"].value
            put("llm_request_overhead_s", overhead, f"vLLM ({variant}), median TTFT of a "
                f"{llm['short_prompt_tokens']}-token prompt")
            put("gpu_matmul_efficiency", flop / (prefill * tflops * 1e12) if prefill > 0 else math.nan,
                f"vLLM ({variant}), {llm['prompt_tokens']}-token prefill: {flop:.3g} FLOP in {prefill:.3f} s "
                f"over {tflops:g} TFLOPS ({spec_source})")
        ns = [int(n) for n in levels if int(n) > 1]
        if one and ns:
            base = one["tokens_per_s"]["median"]
            # tpot(n)/tpot(1) - 1 = s (n - 1): a line through the origin
            ratios = [(n - 1, base / levels[str(n)]["tokens_per_s"]["median"] - 1) for n in ns]
            slope = sum(x * y for x, y in ratios) / sum(x * x for x, _ in ratios)
            put("llm_batch_slowdown", slope, f"vLLM ({variant}), per-request decode tokens/s at "
                f"{', '.join(levels)} concurrent fitted to tpot(n) = tpot(1)(1 + s(n-1))")
    if not spec and any(k.startswith("llm_") or k == "asr" for k in results):
        gaps.append({"figure": "LLM and ASR figures", "why": f"no published specs for this GPU in "
                     "bench/gpu_figures.py GPU_SPECS: the planner's scaling to the 4090 needs them"})
    asr = results.get("asr")
    if asr and spec and len(asr) >= 2:
        lengths = sorted(asr, key=float)
        window, per_token = _line([float(s) * tokens_per_s for s in lengths], [asr[s]["median"] for s in lengths])
        if window > 0 and per_token > 0:
            ratio = FIGURES["whisper_decoder_layers_turbo"].value / FIGURES["whisper_decoder_layers_large_v3"].value
            tokens = FIGURES["bench_audio_tokens"].value
            model = "the tiny Whisper, int8 on a CPU" if dry_run else "faster-whisper large-v3-turbo float16"
            how = (f"{model}, beam 5, {'/'.join(lengths)} s utterances: "
                   f"{window:.4f} s per 30 s window + {per_token * 1000:.3f} ms per token (line fit)")
            put("fw_turbo_13min_s", BENCH_WINDOWS * window + tokens * per_token, f"{how}, at 26 windows and "
                f"{tokens:g} tokens")
            put("fw_large_v3_13min_s", BENCH_WINDOWS * window + tokens * per_token / ratio,
                f"{how}: the same windows with the per-token part at 32/4 decoder layers (the planner's split "
                "inverted; large-v3 itself was not measured)")
            put("rtx2080ti_fp16_tflops", tflops, f"bf16 peak of the measured GPU ({spec_source})")
            put("rtx2080ti_bandwidth_gb_s", bandwidth, f"bandwidth of the measured GPU ({spec_source})")
        else:
            gaps.append({"figure": "fw_turbo_13min_s", "why": f"the line through the utterance times has window "
                         f"{window:.4f} s and per-token {per_token:.6f} s: not both positive"})
    return figures, gaps


# Which registry entry each measured part is booked under (None: not planned, nothing to check).
REGISTRY_OF = {"asr": ASR_WHISPER, "f5": TTS_FAST_F5, "cosyvoice": TTS_HQ_COSYVOICE, "llm_awq": LLM_VLLM,
               "llm_bf16": None}


def memory_check(part: str, nvml_mib: float | None, torch_mib: float | None, why_unavailable: str = "",
                 tiny: bool = False) -> dict[str, Any]:
    """The peak against the registry's footprint: within 10 % or not (None: not compared)."""
    spec = DEFAULT_SPECS.get(REGISTRY_OF.get(part) or "")
    measured = nvml_mib if nvml_mib is not None else torch_mib
    check: dict[str, Any] = {"model": spec.name if spec else part, "part": part, "nvml_peak_mib": nvml_mib,
                             "torch_peak_mib": torch_mib, "measured_mib": measured,
                             "registry_mib": spec.footprint_mb if spec else None, "within_10pct": None}
    if measured is None:
        check["note"] = why_unavailable or "no GPU memory reading"
    elif spec is None:
        check["note"] = "no registry entry: this model is not planned"
    elif tiny:
        check["note"] = "a tiny model: its memory says nothing about the real one's"
    else:
        check["within_10pct"] = abs(measured - spec.footprint_mb) <= TOLERANCE * spec.footprint_mb
    return check


__all__ = ["GPU_SPECS", "gpu_spec", "map_figures", "memory_check", "percentile"]
