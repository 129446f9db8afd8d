"""Every input of the capacity planner, each with its kind and its source.

``Figure.kind`` says how much to trust a number:

- ``measured-here``: this project's benchmarks on its development machine (2 shared AMD EPYC
  cores, no GPU); ``source`` names the ``docs/benchmarks.md`` section and row.
- ``measured-on-gpu``: this project's benchmarks on a lent GPU machine (none yet: no GPU was
  lent for a benchmark so far).
- ``published``: a paper, model card, vendor page or public benchmark; ``source`` gives the URL.
- ``setting``: a value this project configures (``source`` names the setting) or a target the
  assignment sets.
- ``assumption``: a modelling choice no measurement backs yet; ``source`` says why it is
  plausible. Each is a knob to replace with a measurement on the box
  (``docs/capacity-plan.md``, "Measure next"); the sensitivity table shows which matter.

Quantities computed from several figures (ASR, prefill and decode times) are in
:mod:`capacity.derived`, each with its derivation.

``varied`` is False for facts that are exact (a model's layer count): the sensitivity table
(:mod:`capacity.sensitivity`) skips them, since "32 layers ± 50 %" describes no real box.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from capacity.bench_doc import Cell

Kind = Literal["measured-here", "measured-on-gpu", "published", "setting", "assumption"]
KINDS: tuple[str, ...] = ("measured-here", "measured-on-gpu", "published", "setting", "assumption")

BENCH = "docs/benchmarks.md"
ADA_WHITEPAPER = "https://images.nvidia.com/aem-dam/Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf"
TURING_WHITEPAPER = ("https://images.nvidia.com/aem-dam/en-zz/Solutions/design-visualization/technologies/"
                     "turing-architecture/NVIDIA-Turing-Architecture-Whitepaper.pdf")
FW_TURBO_BENCH = "https://github.com/SYSTRAN/faster-whisper/issues/1030"
TURBO_CARD = "https://huggingface.co/openai/whisper-large-v3-turbo"


@dataclass(frozen=True)
class Figure:
    value: float
    unit: str
    kind: Kind
    source: str
    varied: bool = True


def assumed(value: float, unit: str, why: str) -> Figure:
    return Figure(value, unit, "assumption", why)


FIGURES: dict[str, Figure] = {
    # --- conversation shape (no real sessions recorded yet: all assumptions) ----------------------
    "utterance_median_s": assumed(3.0, "s", "a short spoken question to a voice assistant (one clause, ~13 characters)"),
    "utterance_sigma": assumed(0.5, "log-sd", "lognormal spread of utterance length: ±1 SD spans 1.8-4.9 s"),
    "think_mean_s": assumed(3.0, "s", "pause after hearing the reply before speaking again (exponential)"),
    "reply_tokens_mean": assumed(50.0, "tokens", "the system prompt asks for short sentences for reading aloud: "
                                 "2-4 sentences, ~70 characters"),
    "reply_tokens_sd": assumed(15.0, "tokens", "replies of 35-65 tokens within ±1 SD (coefficient of variation 0.3): "
                               "the prompt keeps answers short, so the spread is narrow"),
    "reply_tokens_min": assumed(8.0, "tokens", "the shortest useful spoken answer, one phrase (好的，沒問題。)"),
    "sentence_tokens": assumed(15.0, "tokens", "the sentence chunker cuts at ~21 characters (a clause between commas)"),
    "first_fragment_tokens": assumed(10.0, "tokens", "the first cut comes at the first comma or period"),
    "chars_per_token": assumed(1.4, "chars", "Qwen2.5's 151k-token vocabulary holds common hanzi and two-character "
                               "words, so a token is 1-2 characters of Traditional Chinese"),
    "speech_chars_per_s": assumed(4.5, "chars/s", "conversational Mandarin runs at about 4-5 syllables (characters) "
                                  "per second"),
    "hq_session_share": assumed(0.2, "share", "one session in five asks for the HQ re-synthesis"),
    "service_jitter": assumed(0.2, "± share", "each engine call takes its mean ± up to 20 % (uniform): text and "
                              "audio content vary"),
    # --- settings and targets -----------------------------------------------------------------------
    "vad_endpoint_s": Figure(0.5, "s", "setting", "avatar/settings.py vad_min_silence_ms = 500 "
                             "(AVATAR_VAD_MIN_SILENCE_MS)"),
    "llm_max_tokens": Figure(256, "tokens", "setting", "avatar/settings.py llm_max_tokens = 256 (AVATAR_LLM_MAX_TOKENS)"),
    "vllm_max_seqs": Figure(64, "sequences", "setting", "vLLM's --max-num-seqs; the planned load stays far below it"),
    "slo_ttft_p95_s": Figure(0.8, "s", "setting", "the assignment's target (its seed document): LLM time to "
                             "first token P95 < 800 ms"),
    "slo_stall_p95_s": assumed(0.5, "s", "a gap under half a second between two spoken sentences sounds like a pause, "
                               "not a stall"),
    "pool_busy_limit": assumed(0.9, "share", "queueing delay grows as 1/(1-busy); above 90 % busy a burst of turns "
                               "builds queues a 20-minute P95 may not show yet"),
    # --- measured here (each names its cell: MEASURED_CELLS; a test checks the value is still there)
    "orchestration_p95_s": Figure(0.0323, "s", "measured-here",
                                  f"{BENCH}, Orchestration overhead per turn, Results: conversational pacing, "
                                  "row 10 sessions, Overhead P95 32.3 ms"),
    "prosody_cpu_median_s": Figure(0.401, "CPU s", "measured-here",
                                   f"{BENCH}, Prosody analysis speed, row 'whole analysis, CPU time', median 0.401 s "
                                   "(per 10 s of audio: a ~3 s utterance costs less, so this is conservative)"),
    "prosody_cpu_p95_s": Figure(0.467, "CPU s", "measured-here",
                                f"{BENCH}, Prosody analysis speed, row 'whole analysis, CPU time', P95 0.467 s"),
    "api_core_per_stream": Figure(0.0104, "cores", "measured-here",
                                  f"{BENCH}, Speech input, concurrent streams table, row 10 streams, API CPU per "
                                  "stream 1.04 % (0.68 % at 50)"),
    # --- ASR: faster-whisper large-v3-turbo ------------------------------------------------------------
    "fw_large_v3_13min_s": Figure(52.0, "s", "published",
                                  f"{FW_TURBO_BENCH}: faster-whisper large-v3 fp16, beam 5, 13 min of audio in 52.0 s "
                                  "on an RTX 2080 Ti (community benchmark, faster-whisper's own 13-minute test file)"),
    "fw_turbo_13min_s": Figure(19.2, "s", "published",
                               f"{FW_TURBO_BENCH}: faster-whisper large-v3-turbo fp16, beam 5, the same 13 min in "
                               "19.2 s on the same RTX 2080 Ti (int8: 19.6 s)"),
    "bench_audio_tokens": assumed(2500.0, "tokens", "the 13-minute English benchmark recording at ~150 words/min and "
                                  "~1.3 tokens/word"),
    "whisper_decoder_layers_large_v3": Figure(32, "layers", "published", f"{TURBO_CARD} (model card: large-v3's "
                                              "32 decoder layers)", varied=False),
    "whisper_decoder_layers_turbo": Figure(4, "layers", "published", f"{TURBO_CARD} (model card: a pruned large-v3 whose "
                                           "decoder has 4 layers instead of 32; the 32-layer encoder is unchanged)", varied=False),
    "whisper_tokens_per_char": assumed(1.5, "tokens/char", "Whisper's byte-level BPE is mostly English: common hanzi "
                                       "are one token, rarer ones two or three byte pieces"),
    "asr_cpu_2core_s": Figure(5.13, "s/utterance", "measured-here",
                              f"{BENCH}, Per-engine speed at real size on this machine, ASR table, row "
                              "faster-whisper-large-v3-turbo 5 s, median 5.13 s (random weights, real size, int8, "
                              "beam 5, 2 EPYC vCPUs; 5.37 s at 2 s, 6.35 s at 10 s: the padded 30 s window dominates). "
                              "Two i7-13700 P-cores are taken as equal to them (assumption)"),
    # --- LLM: vLLM serving Qwen2.5-7B-Instruct-AWQ ------------------------------------------------------
    "llm_prompt_tokens": assumed(600.0, "tokens", "system prompt (~60 tokens) + ~8 earlier exchanges of ~70 tokens; "
                                 "no credit taken for vLLM's prefix cache, which would prefill only the new ~30 tokens"),
    "qwen_7b_non_embedding_params": Figure(6.53e9, "parameters", "published",
                                           "https://huggingface.co/Qwen/Qwen2.5-7B-Instruct (model card: 7.61B "
                                           "parameters, 6.53B non-embedding)", varied=False),
    "gpu_matmul_efficiency": assumed(0.4, "share of peak", "large fp16 GEMMs reach 60-80 % of the tensor peak; AWQ "
                                     "dequantisation, attention and the small ops around them bring a whole prefill "
                                     "lower"),
    "llm_request_overhead_s": assumed(0.03, "s", "vLLM's API server: chat template, tokenising, scheduling and "
                                      "streaming the first token"),
    "qwen_awq_a100_tok_s": Figure(148.0, "tokens/s", "published",
                                  "https://qwen.readthedocs.io/en/latest/benchmark/speed_benchmark.html (Qwen2.5-7B-"
                                  "Instruct-AWQ, vLLM, batch 1, input length 1, NVIDIA A100 80GB)"),
    "llm_batch_slowdown": assumed(0.067, "per extra sequence",
                                  "per-sequence decode ~2x slower at 16 sequences. Pessimistic: the weights are read "
                                  "once per step for all sequences and each sequence's KV adds ~0.5 % at 1 k tokens "
                                  "(28 KiB/token vs 5.5 GB of weights), but AWQ kernels dequantise on every step"),
    # --- TTS ---------------------------------------------------------------------------------------------
    "tts_fast_rtf": Figure(0.15, "RTF", "published",
                           "https://arxiv.org/abs/2410.06885 (F5-TTS paper: RTF 0.15 at NFE 16, on an RTX 3090; "
                           "not scaled to the 4090)"),
    "tts_hq_rtf": assumed(0.2, "RTF", "no published CosyVoice 3 RTF on a consumer GPU was found; the CosyVoice team "
                          "quotes RTF ~0.1 with TensorRT on datacenter GPUs: doubled for a 4090 without TensorRT"),
    # --- sharing one GPU ------------------------------------------------------------------------------
    "gpu_interference": assumed(0.25, "per other busy GPU job",
                                "between 0 (kernels overlap perfectly) and 1.0 (time-slicing gives each of two jobs "
                                "half the GPU): F5 at batch 1, Whisper's decoder and vLLM's memory-bound decoding each "
                                "leave SMs idle, so they overlap well, hence the lower part of that range"),
    # --- hardware ----------------------------------------------------------------------------------------
    "rtx4090_fp16_tflops": Figure(165.2, "TFLOPS", "published", f"{ADA_WHITEPAPER} (RTX 4090: FP16 tensor, FP32 "
                                  "accumulate, dense)"),
    "rtx4090_bandwidth_gb_s": Figure(1008.0, "GB/s", "published", f"{ADA_WHITEPAPER} (RTX 4090 memory bandwidth)"),
    # The Turing whitepaper could not be opened from this workplace and no search result quotes its
    # tensor table: the 53.8 is the value as remembered, so it is labelled an assumption.
    "rtx2080ti_fp16_tflops": assumed(53.8, "TFLOPS",
                                     "UNVERIFIED: the RTX 2080 Ti's FP16 tensor rate with FP32 accumulate as "
                                     f"remembered from {TURING_WHITEPAPER} (not re-read: it could not be opened "
                                     "here). It agrees with 544 tensor cores x 64 FMA x 2 FLOP x 1,545 MHz boost = "
                                     "107.6 TFLOPS, halved for FP32 accumulate on GeForce cards; the halving is the "
                                     "unverified part"),
    "rtx2080ti_bandwidth_gb_s": Figure(616.0, "GB/s", "published",
                                       f"{TURING_WHITEPAPER} (RTX 2080 Ti memory bandwidth; the PDF was not opened "
                                       "here: 616 GB/s checked against https://gpu.spicedreamphone.com/ru/gpu/nvidia/"
                                       "geforce-rtx-2080-ti (616.0 GB/s, 352-bit GDDR6) and 3dfxzone's launch news "
                                       "(484 -> 616 GB/s over the GTX 1080 Ti))"),
    "a100_bandwidth_gb_s": Figure(2039.0, "GB/s", "published", "https://www.nvidia.com/en-us/data-center/a100/ "
                                  "(A100 80GB SXM memory bandwidth)"),
    "rtx4090_vram_mb": Figure(24564, "MiB", "published", "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/"
                              "rtx-4090/ (24 GB; 24,564 MiB is what the card reports, gpu_scheduler.presets.RTX_4090_MB)"),
    "gpu_48gb_vram_mb": Figure(49140, "MiB", "published", "https://www.nvidia.com/en-us/design-visualization/"
                               "rtx-6000/ (RTX 6000 Ada: 48 GB; L40S likewise)"),
    "box_cores": Figure(16, "cores", "published",
                        "16 cores: heise's c't test of the Core i-13000 series, http://heise.de/-7482410 (\"den "
                        "16-Kerner Core i7-13700\"). UNVERIFIED here: the split into 8 P-cores + 8 E-cores with 24 "
                        "threads, as Intel's listing at https://ark.intel.com gives it (that page was not opened; "
                        "the reviews found state this split for the i7-13700K)", varied=False),
    "box_ram_gb": Figure(64, "GB", "setting", "the assignment's AAEON MAXER-2100 configuration "
                         "(i7-13700, 64 GB, RTX 4090)",
                         varied=False),
}


# Where each measured-here figure stands in docs/benchmarks.md, and the factor from the cell's
# unit to the figure's: tests/capacity/test_capacity.py fails when a benchmark run has moved one,
# naming the new value to write above.
MEASURED_CELLS: dict[str, tuple[Cell, float]] = {
    "orchestration_p95_s": (Cell("Orchestration overhead", ("10",), "Overhead P95", "conversational pacing"), 0.001),
    "prosody_cpu_median_s": (Cell("Prosody analysis speed", ("whole analysis, CPU time",), "median (s)"), 1.0),
    "prosody_cpu_p95_s": (Cell("Prosody analysis speed", ("whole analysis, CPU time",), "P95 (s)"), 1.0),
    "api_core_per_stream": (Cell("Speech input", ("10",), "API CPU per stream (share of a core)"), 0.01),
    "asr_cpu_2core_s": (Cell("Per-engine speed at real size", ("faster-whisper-large-v3-turbo", "5"), "median (s)",
                              "ASR, faster-whisper"), 1.0),
}


def value(name: str) -> float:
    return FIGURES[name].value


__all__ = ["FIGURES", "Figure", "KINDS", "Kind", "MEASURED_CELLS", "assumed", "value"]
