"""Every number the capacity simulator uses, with where it comes from.

Kinds of source, as labelled in ``Figure.source``:

- **measured here**: this project's benchmarks (``docs/benchmarks.md``; machine: 2 shared
  AMD EPYC cores, no GPU) or ``NOTES.md`` measurements.
- **published**: a paper, model card or project README (named).
- **derived**: computed from the above by the stated rule (e.g. scaled by memory bandwidth).
- **assumed**: a modelling choice with no measurement behind it yet; each is a knob to
  replace with a measurement on the target box (``docs/capacity-plan.md``, "Measure next").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    source: str


FIGURES: dict[str, Figure] = {
    # --- conversation shape -------------------------------------------------------------------
    "utterance_median_s": Figure(3.0, "s", "assumed: a short spoken question (lognormal, sigma 0.5)"),
    "think_mean_s": Figure(3.0, "s", "assumed: pause after the reply before speaking again (exponential)"),
    "reply_tokens_mean": Figure(50.0, "tokens", "assumed: a spoken reply of ~70 characters (2-4 sentences)"),
    "sentence_tokens": Figure(15.0, "tokens", "assumed: the sentence chunker cuts ~21 characters"),
    "first_fragment_tokens": Figure(10.0, "tokens", "assumed: the first cut comes at the first comma/period"),
    "chars_per_token": Figure(1.4, "chars", "assumed: Qwen2.5 tokenizer on Traditional Chinese text"),
    "speech_chars_per_s": Figure(4.5, "chars/s", "assumed: conversational Mandarin, ~4-5 syllables/s"),
    "hq_session_share": Figure(0.2, "share", "assumed: one session in five asks for HQ re-synthesis"),
    # --- end of speech ----------------------------------------------------------------------------
    "vad_endpoint_s": Figure(0.5, "s", "setting: AVATAR_VAD_MIN_SILENCE_MS=500 (speech-input issue)"),
    "orchestration_p95_s": Figure(0.026, "s",
                                  "measured here: bench.overhead, orchestration overhead P95 25.6 ms at 10 sessions"),
    # --- ASR --------------------------------------------------------------------------------------
    "asr_gpu_s": Figure(0.25, "s/utterance",
                        "derived: faster-whisper README (large-v2 fp16, RTX 3070 Ti: 13 min audio in 63 s = 2.4 s "
                        "per 30 s window) / 4 (turbo: 4 decoder layers, not 32) / 2.5 (RTX 4090 vs 3070 Ti)"),
    "asr_cpu_2core_s": Figure(5.0, "s/utterance",
                              "measured here (NOTES.md): large-v3-turbo-shaped model, ~5 s per short utterance on 2 "
                              "cores; every segment is padded to a 30 s window"),
    # --- LLM (vLLM, Qwen2.5-7B-Instruct-AWQ) -----------------------------------------------------------
    "llm_prefill_s": Figure(0.10, "s",
                            "derived: ~600 prompt tokens x 2 x 7.6e9 FLOP at ~40 % of the RTX 4090's 165 TFLOPS "
                            "fp16 tensor rate, plus ~30 ms scheduling; prefix caching makes repeat turns cheaper"),
    "llm_tpot_batch1_s": Figure(0.0137, "s/token",
                                "derived: Qwen2.5 speed benchmark, AWQ 148 tok/s batch 1 on A100 80GB (NOTES.md), "
                                "scaled by memory bandwidth 1008/2039 GB/s (RTX 4090 / A100) = 73 tok/s"),
    "llm_batch_slowdown": Figure(0.067, "per extra sequence",
                                 "assumed: per-sequence decode ~2x slower at 16 concurrent sequences (continuous "
                                 "batching stays memory-bound); measure with vLLM's benchmark_serving on the box"),
    # --- TTS --------------------------------------------------------------------------------------
    "tts_fast_rtf": Figure(0.15, "RTF", "published: F5-TTS paper, RTF 0.15 at NFE 16 (NOTES.md)"),
    "tts_hq_rtf": Figure(0.2, "RTF",
                         "derived: CosyVoice RTF ~0.1 on datacenter GPUs (NOTES.md), doubled for a consumer card "
                         "without TensorRT"),
    # --- prosody and API (CPU) ---------------------------------------------------------------------------
    "prosody_cpu_s": Figure(0.47, "CPU s/utterance",
                            "measured here: bench.prosody, whole analysis CPU time P95 0.467 s (openSMILE + Praat)"),
    "api_core_per_stream": Figure(0.0115, "cores",
                                  "measured here: bench.speech, API CPU 1.1 % of a core per live audio stream at 10 streams, 0.75 % at 50 (VAD inline)"),
    # --- sharing one GPU ----------------------------------------------------------------------------
    "gpu_interference": Figure(0.25, "per other busy GPU job",
                               "assumed: each other model busy on the same GPU stretches a job by 25 % (shared SMs "
                               "and memory bandwidth); measure by running lanes together on the box"),
    # --- the box ------------------------------------------------------------------------------------
    "box_cores": Figure(16, "cores", "published: Intel i7-13700, 8 P-cores + 8 E-cores (24 threads)"),
    "box_ram_gb": Figure(64, "GB", "published: AAEON MAXER-2100 configuration in the assignment"),
    "rtx4090_vram_mb": Figure(24564, "MiB", "published: RTX 4090 24 GB (gpu_scheduler.presets.RTX_4090_MB)"),
}


def value(name: str) -> float:
    return FIGURES[name].value
