"""Where each model lives: the seed's GPU plans, per GPU budget and lanes.

``single-4090`` (the seed's one RTX 4090, 24 GB; ``docker/docker-compose.yml``):

- vLLM serves Qwen2.5-7B-Instruct-AWQ with ``--gpu-memory-utilization 0.55`` (about
  13 GB: weights plus its own KV-cache pool). It is its own process, so the budget books
  that share as a *resident* entry and never evicts it.
- faster-whisper (ASR) is resident: every voice turn starts with it.
- F5-TTS (fast tier) loads on demand and usually stays (short stays; evicted first when
  room is short because it reloads in about a second).
- CosyVoice 3 (HQ tier) loads on demand and is unloaded after ``idle_unload_s`` idle, so
  batch re-synthesis and the fast tier get the room back.
- Lanes pinned with ``--gpu 0``: ``asr``, ``tts_fast``, ``tts_hq``, ``batch``, ``batch_fast``;
  the ``llm`` lane only talks to vLLM over HTTP, and ``prosody`` runs on the CPU.

Two boxes (``two-box-llm`` on box A, ``two-box-speech`` on box B): box A gives its whole
GPU to vLLM (``--gpu-memory-utilization 0.90``); box B keeps ASR, fast and HQ TTS all
resident, so no speech request ever waits for a load.

Budgets leave about 1.5 GB per GPU for CUDA contexts (one per worker process) and
fragmentation. Footprints are the estimates of :mod:`gpu_scheduler.registry`, overridable
by measurement.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gpu_scheduler.registry import (
    ASR_WHISPER,
    DEFAULT_SPECS,
    LLM_VLLM,
    TTS_FAST_F5,
    TTS_HQ_COSYVOICE,
    ModelSpec,
    with_residency,
)

RTX_4090_MB = 24564  # what an RTX 4090 reports as total memory (MiB)
CONTEXT_HEADROOM_MB = 1500  # CUDA contexts of the worker processes + fragmentation


def vllm_share(utilization: float, total_mb: int = RTX_4090_MB) -> ModelSpec:
    """The vLLM entry for a ``--gpu-memory-utilization`` share: vLLM grabs all of it."""
    spec = DEFAULT_SPECS[LLM_VLLM]
    share = int(total_mb * utilization)
    return dataclasses.replace(spec, working_mb=max(0, share - spec.weights_mb))


@dataclass(frozen=True)
class GPUPlan:
    """One GPU: its ``--gpu`` index on its box, budget, pinned lanes and planned models."""

    gpu: int
    total_mb: int
    budget_mb: int
    lanes: tuple[str, ...]
    models: tuple[ModelSpec, ...]
    idle_unload_s: float = 300.0
    vllm_gpu_memory_utilization: float | None = None

    def __post_init__(self) -> None:
        if self.budget_mb > self.total_mb:
            raise ValueError(
                f"gpu {self.gpu}: budget {self.budget_mb} MiB exceeds the device's {self.total_mb}"
            )
        resident = sum(m.footprint_mb for m in self.models if m.residency == "resident")
        if resident > self.budget_mb:
            raise ValueError(f"gpu {self.gpu}: resident models need {resident} MiB > budget {self.budget_mb}")

    @property
    def resident_mb(self) -> int:
        return sum(m.footprint_mb for m in self.models if m.residency == "resident")

    @property
    def peak_mb(self) -> int:
        """Everything planned loaded at once (on-demand models included)."""
        return sum(m.footprint_mb for m in self.models)


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    gpus: tuple[GPUPlan, ...]


PRESETS: dict[str, Preset] = {
    "single-4090": Preset(
        name="single-4090",
        description="One RTX 4090: vLLM 0.55 + ASR resident, fast TTS and HQ TTS on demand.",
        gpus=(
            GPUPlan(
                gpu=0,
                total_mb=RTX_4090_MB,
                budget_mb=RTX_4090_MB - CONTEXT_HEADROOM_MB,
                lanes=("asr", "tts_fast", "tts_hq", "batch", "batch_fast"),
                models=(
                    vllm_share(0.55),
                    DEFAULT_SPECS[ASR_WHISPER],
                    DEFAULT_SPECS[TTS_FAST_F5],
                    DEFAULT_SPECS[TTS_HQ_COSYVOICE],
                ),
                idle_unload_s=300.0,
                vllm_gpu_memory_utilization=0.55,
            ),
        ),
    ),
    "two-box-llm": Preset(
        name="two-box-llm",
        description="Box A of two: the whole RTX 4090 for vLLM (0.90).",
        gpus=(
            GPUPlan(
                gpu=0,
                total_mb=RTX_4090_MB,
                budget_mb=RTX_4090_MB - CONTEXT_HEADROOM_MB,
                lanes=(),
                models=(vllm_share(0.90),),
                vllm_gpu_memory_utilization=0.90,
            ),
        ),
    ),
    "two-box-speech": Preset(
        name="two-box-speech",
        description="Box B of two: ASR, fast TTS and HQ TTS all resident on one RTX 4090.",
        gpus=(
            GPUPlan(
                gpu=0,
                total_mb=RTX_4090_MB,
                budget_mb=RTX_4090_MB - CONTEXT_HEADROOM_MB,
                lanes=("asr", "tts_fast", "tts_hq", "batch", "batch_fast"),
                models=tuple(
                    with_residency(DEFAULT_SPECS[name], "resident")
                    for name in (ASR_WHISPER, TTS_FAST_F5, TTS_HQ_COSYVOICE)
                ),
            ),
        ),
    ),
}
