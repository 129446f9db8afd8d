"""What each GPU model costs in device memory, and whether it stays loaded.

The numbers in :data:`DEFAULT_SPECS` are **estimates** for the seed's models on an RTX 4090
(fp16/int8/AWQ weights plus the working memory a single shared copy needs: activations,
KV cache, vocoder buffers). They are overridable by measurement: after loading a model,
a worker can measure what it really took (e.g. the change in ``torch.cuda.mem_get_info``)
and replace the estimate with :func:`override_from_measurement`.

``resident`` models are loaded at start and never evicted; ``on_demand`` models are loaded
when a job needs them and may be evicted (least recently used first) to make room, or
unloaded after sitting idle. One copy of each model per GPU serves every session.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal, get_args

Residency = Literal["resident", "on_demand"]
RESIDENCIES: tuple[str, ...] = get_args(Residency)

# Model names: the keys the budget and the workers share.
LLM_VLLM = "vllm-qwen2.5-7b-awq"
ASR_WHISPER = "faster-whisper-large-v3-turbo"
TTS_FAST_F5 = "f5-tts"
TTS_HQ_COSYVOICE = "cosyvoice3"
TTS_HQ_BREEZYVOICE = "breezyvoice"
# VoxCPM serves either lane; each lane's worker holds its own copy, booked under its own name.
TTS_FAST_VOXCPM = "voxcpm-fast"
TTS_HQ_VOXCPM = "voxcpm-hq"


@dataclass(frozen=True)
class ModelSpec:
    """One model's device-memory cost in MiB: weights plus working memory."""

    name: str
    weights_mb: int
    working_mb: int
    residency: Residency

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("ModelSpec.name must not be empty")
        if self.weights_mb < 0 or self.working_mb < 0:
            raise ValueError(f"{self.name}: memory sizes must be >= 0")
        if self.residency not in RESIDENCIES:
            raise ValueError(f"{self.name}: residency must be one of {RESIDENCIES}, not {self.residency!r}")

    @property
    def footprint_mb(self) -> int:
        """Everything the model holds on the device while loaded."""
        return self.weights_mb + self.working_mb


def override_from_measurement(spec: ModelSpec, measured_mb: int) -> ModelSpec:
    """A copy of ``spec`` whose footprint is the measured total (MiB).

    The weights estimate is kept and the working memory absorbs the difference; a
    measurement below the weights estimate means the weights were smaller than thought,
    so it becomes the weights with no working memory.
    """
    if measured_mb < 0:
        raise ValueError(f"{spec.name}: measured footprint must be >= 0, got {measured_mb}")
    if measured_mb >= spec.weights_mb:
        return dataclasses.replace(spec, working_mb=measured_mb - spec.weights_mb)
    return dataclasses.replace(spec, weights_mb=measured_mb, working_mb=0)


def with_residency(spec: ModelSpec, residency: Residency) -> ModelSpec:
    """The same model planned differently (e.g. HQ TTS resident on a speech-only box)."""
    return dataclasses.replace(spec, residency=residency)


# Estimates for the seed's models (MiB), overridable by measurement.
DEFAULT_SPECS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        # Qwen2.5-7B-Instruct-AWQ under vLLM: ~5.5 GB of 4-bit weights; vLLM pre-allocates
        # its KV cache (fp8) out of --gpu-memory-utilization, ~6.5 GB of it.
        ModelSpec(LLM_VLLM, weights_mb=5500, working_mb=6500, residency="resident"),
        # faster-whisper large-v3-turbo, CTranslate2 int8: ~1.0 GB weights + decoding buffers.
        ModelSpec(ASR_WHISPER, weights_mb=1000, working_mb=600, residency="resident"),
        # F5-TTS (fast tier) with its vocoder: short stays, first sentence of each reply.
        ModelSpec(TTS_FAST_F5, weights_mb=800, working_mb=600, residency="on_demand"),
        # CosyVoice 3 (high-quality tier): the largest speech model, evicted when idle.
        ModelSpec(TTS_HQ_COSYVOICE, weights_mb=2300, working_mb=1200, residency="on_demand"),
        # BreezyVoice (Taiwanese-accent HQ alternative, CosyVoice v1 300M + g2pW, fp32):
        # planned *instead of* CosyVoice on the HQ lane, never beside it.
        ModelSpec(TTS_HQ_BREEZYVOICE, weights_mb=1800, working_mb=1200, residency="on_demand"),
        # VoxCPM-0.5B (either lane): ~5 GB of VRAM published (OpenBMB/VoxCPM README, model
        # table: VoxCPM-0.5B ~5 GB, VoxCPM1.5 ~6 GB, VoxCPM2 ~8 GB), split here by estimate into
        # ~0.64 G bf16 parameters and the rest (two 4096-step KV caches, diffusion, VAE buffers).
        # A VoxCPM2 folder needs the preset's or a measured override.
        ModelSpec(TTS_FAST_VOXCPM, weights_mb=1300, working_mb=3700, residency="on_demand"),
        ModelSpec(TTS_HQ_VOXCPM, weights_mb=1300, working_mb=3700, residency="on_demand"),
    )
}
