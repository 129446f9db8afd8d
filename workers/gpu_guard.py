"""What stands between speech synthesis and the GPU: the single HQ slot, the HQ breaker, and
CUDA out-of-memory on either tier. Every stage reaches them through
``workers/speech_service.py``, never on its own.

- The slot (``gpu_scheduler.lock.FencedSlot``) admits one HQ synthesis at a time across
  every HQ worker; a job that finds it taken raises ``SlotBusy`` and its task retries with
  a countdown instead of spinning. The fence is checked right before the audio is
  published, so a job that lost its slot (its heartbeat died, the lock expired and another
  job took it) cannot publish.
- The breaker (shared in Redis) stops every worker from calling a broken HQ engine: while
  it is open, HQ sentences are degraded to the fast engine.
- Out of GPU memory on either tier (CUDA said so, the VRAM budget had no room, or another
  process is using this GPU's one copy of the model): free
  what can be freed (this process's idle models, the failed one included, and the
  allocator's cache) and retry once (:func:`retry_after_oom`). Still out of memory, an HQ
  job whose model found no room in the budget waits for it like the slot (``SlotBusy``:
  the models in use give it back when they finish); an HQ sentence CUDA itself refused is
  degraded to the fast engine and the session is told ``VRAM_EXHAUSTED`` (the seed's
  顯存不足，已降級至快速模式); a fast sentence raises ``VRAMExhausted`` and the speech
  service speaks it with the CPU fallback engine (``AVATAR_TTS_OOM_FALLBACK_ENGINE``). The
  worker survives.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import redis

from avatar.metrics import GPU_OOM
from avatar.settings import Settings
from gpu_scheduler.breaker import CircuitBreaker
from gpu_scheduler.budget import BudgetExceeded, ModelOwnedElsewhere
from gpu_scheduler.lock import Fence, FencedSlot
from gpu_scheduler.state import HQ_SLOT, hq_breaker
from workers.engines.base import VRAMExhausted
from workers.engines.tts.base import SynthesizedClip

log = logging.getLogger(__name__)


class SlotBusy(RuntimeError):
    """Another HQ synthesis holds the single slot: retry later."""


class DegradeToFast(RuntimeError):
    """This HQ sentence must be spoken by the fast engine instead."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def is_cuda_oom(exc: BaseException) -> bool:
    """torch.cuda.OutOfMemoryError, recognised without importing torch in CPU workers."""
    kind = type(exc)
    return kind.__name__ == "OutOfMemoryError" and kind.__module__.startswith("torch")


def is_out_of_vram(exc: BaseException) -> bool:
    """No GPU memory for this synthesis: CUDA said so, or the VRAM budget had no room even
    after evicting every idle model (the rest are in use or resident), or the one copy of
    the model this GPU holds is in use by another process (a batch lane, a live lane)."""
    return is_cuda_oom(exc) or isinstance(exc, BudgetExceeded | ModelOwnedElsewhere)


# Room held by jobs that are running comes back when they finish (a sentence: about a second).
BUDGET_RETRY_WAIT_S = 0.5


def free_gpu_memory(evict_idle: Callable[[], object] | None = None) -> None:
    if evict_idle is not None:
        log.warning("freed idle models after running out of GPU memory: %s", evict_idle())
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


@contextmanager
def hq_slot(client: redis.Redis, settings: Settings) -> Iterator[Fence]:
    # The slot outlives a hung job by at most one TTL; the heartbeat renews it meanwhile.
    fence = FencedSlot(client, HQ_SLOT, ttl_s=max(10.0, settings.tts_time_limit_s / 3)).acquire()
    if fence is None:
        raise SlotBusy("HQ slot held by another job")
    with fence:
        yield fence


def retry_after_oom(
    synthesize: Callable[[], SynthesizedClip], *, tier: str, evict_idle: Callable[[], object] | None = None,
) -> SynthesizedClip:
    """``synthesize()``; out of GPU memory (:func:`is_out_of_vram`), free memory and call it
    once more. Raises ``VRAMExhausted`` when the second call runs out of memory too."""
    try:
        return synthesize()
    except Exception as exc:
        if not is_out_of_vram(exc):
            raise
        GPU_OOM.labels(tier=tier, outcome="retried").inc()
        log.warning("out of GPU memory in %s synthesis (%s); freeing memory and retrying once", tier, exc)
        free_gpu_memory(evict_idle)
        if not is_cuda_oom(exc):
            time.sleep(BUDGET_RETRY_WAIT_S)
    try:
        return synthesize()
    except Exception as exc:
        if not is_out_of_vram(exc):
            raise
        GPU_OOM.labels(tier=tier, outcome="exhausted").inc()
        raise VRAMExhausted(f"out of GPU memory in {tier} synthesis, again after freeing memory: {exc}") from exc


def synthesize_hq(
    synthesize: Callable[[], SynthesizedClip],
    breaker: CircuitBreaker,
    *,
    evict_idle: Callable[[], object] | None = None,
) -> SynthesizedClip:
    if not breaker.allow():
        raise DegradeToFast("HQ_UNAVAILABLE", "高品質模式暫不可用，已改用快速模式（HQ engine circuit open）")
    try:
        clip = retry_after_oom(synthesize, tier="hq", evict_idle=evict_idle)
    except VRAMExhausted as exc:  # not the engine's fault: the breaker is left alone
        if isinstance(exc.__cause__, BudgetExceeded | ModelOwnedElsewhere):
            # The budget is held by models in use (a fast sentence now): room comes back
            # when they finish, so the job waits its turn as it does for the slot.
            raise SlotBusy(f"waiting for VRAM room: {exc.__cause__}") from exc
        raise DegradeToFast("VRAM_EXHAUSTED", "顯存不足，已降級至快速模式") from exc
    except Exception:
        breaker.record_failure()
        raise
    breaker.record_success()
    return clip


__all__ = ["DegradeToFast", "SlotBusy", "hq_breaker", "hq_slot", "is_cuda_oom", "is_out_of_vram", "retry_after_oom", "synthesize_hq"]
