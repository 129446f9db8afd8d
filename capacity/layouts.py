"""The box layouts the GPU planner compares: which pools run where, and whether their models fit.

A layout is what one unit of hardware runs: its pools (worker processes or slots per lane),
the GPU each pool uses (None: the CPU) and the figure that holds the GPU's memory. Layouts that
would simulate alike are not kept twice (``Layout.definition``; tests/capacity checks it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from capacity.derived import Inputs
from gpu_scheduler.presets import CONTEXT_HEADROOM_MB, PRESETS, vllm_share
from gpu_scheduler.registry import ASR_WHISPER, DEFAULT_SPECS, TTS_FAST_F5, TTS_HQ_COSYVOICE

# Settings: how much of its GPU vLLM takes (gpu_scheduler/presets.py, --gpu-memory-utilization).
_VLLM_SHARE_BESIDE_SPEECH = PRESETS["single-4090"].gpus[0].vllm_gpu_memory_utilization
_VLLM_SHARE_ALONE = PRESETS["two-box-llm"].gpus[0].vllm_gpu_memory_utilization


@dataclass(frozen=True)
class Layout:
    """What one unit of hardware runs. ``gpu`` names which GPU each pool uses (None: CPU).

    ``gpu_memory`` names the figure holding each GPU's memory: the only thing a 48 GB card
    changes in this model (it is taken to be as fast as the 4090; see docs/capacity-plan.md).
    """

    name: str
    description: str
    boxes: int  # physical boxes per unit
    pools: dict[str, int]  # pool -> servers (worker processes / slots)
    gpu: dict[str, str | None]  # pool -> GPU id within the unit, or None for CPU
    gpu_memory: str = "rtx4090_vram_mb"

    def definition(self) -> tuple[object, ...]:
        """Everything that shapes the simulation (the name and description do not)."""
        return (self.boxes, sorted(self.pools.items()), sorted(self.gpu.items(), key=str), self.gpu_memory)

    def vram_needed_mb(self, inputs: Inputs) -> dict[str, int]:
        """Per GPU id: what its models book at once (gpu_scheduler/registry.py estimates)."""
        total_mb = int(inputs[self.gpu_memory])
        needed: dict[str, int] = {}
        for pool, spec_name in (("asr", ASR_WHISPER), ("tts_fast", TTS_FAST_F5), ("tts_hq", TTS_HQ_COSYVOICE)):
            gpu = self.gpu.get(pool)
            if gpu is not None:
                needed[gpu] = needed.get(gpu, 0) + DEFAULT_SPECS[spec_name].footprint_mb * self.pools[pool]
        llm_gpu = self.gpu["llm"]
        if llm_gpu is not None:  # the presets' --gpu-memory-utilization: beside speech, or alone
            beside_speech = any(self.gpu.get(p) == llm_gpu for p in self.pools)
            share = _VLLM_SHARE_BESIDE_SPEECH if beside_speech else _VLLM_SHARE_ALONE
            needed[llm_gpu] = needed.get(llm_gpu, 0) + vllm_share(share, total_mb).footprint_mb
        return needed

    def fits_vram(self, inputs: Inputs) -> bool:
        budget = inputs[self.gpu_memory] - CONTEXT_HEADROOM_MB
        return all(mb <= budget for mb in self.vram_needed_mb(inputs).values())


_ONE_GPU = {"llm": "0", "asr": "0", "tts_fast": "0", "tts_hq": "0", "prosody": None}
_TWO_FAST = Layout(
    "single-4090-2fast", "one MAXER-2100, two tts_fast workers (F5 loaded twice: +1.4 GB)", 1,
    pools={"asr": 1, "tts_fast": 2, "tts_hq": 1, "prosody": 4}, gpu=_ONE_GPU,
)

LAYOUTS: dict[str, Layout] = {
    "single-4090": Layout(
        "single-4090", "one MAXER-2100 (i7-13700, 64 GB, RTX 4090): every model on the one GPU", 1,
        pools={"asr": 1, "tts_fast": 1, "tts_hq": 1, "prosody": 4}, gpu=_ONE_GPU,
    ),
    "single-4090-2fast": _TWO_FAST,
    "two-box": Layout(
        "two-box", "two MAXER-2100s: box A vLLM alone, box B ASR + 3x fast TTS + HQ all resident", 2,
        pools={"asr": 1, "tts_fast": 3, "tts_hq": 1, "prosody": 6},
        gpu={"llm": "A", "asr": "B", "tts_fast": "B", "tts_hq": "B", "prosody": None},
    ),
    # The same lanes as single-4090-2fast on a 48 GB card: only the memory differs.
    "single-48gb": dataclasses.replace(
        _TWO_FAST, name="single-48gb", gpu_memory="gpu_48gb_vram_mb",
        description="single-4090-2fast on a 48 GB GPU (e.g. RTX 6000 Ada): the same lanes, every model resident",
    ),
    "single-4090-cpu-asr": Layout(
        "single-4090-cpu-asr", "one MAXER-2100 with ASR on the CPU (turbo, 4 processes x 2 cores)", 1,
        pools={"asr": 4, "tts_fast": 1, "tts_hq": 1, "prosody": 4},
        gpu={"llm": "0", "asr": None, "tts_fast": "0", "tts_hq": "0", "prosody": None},
    ),
}


__all__ = ["LAYOUTS", "Layout"]
