"""The model objects one worker process holds, kept in step with the GPU's shared
:class:`~gpu_scheduler.budget.VRAMBudget` (which only books memory: only the owning process
can free the weights)."""

from __future__ import annotations

import gc
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from avatar.metrics import observe_model_load
from gpu_scheduler.budget import ModelNotLoaded, ModelOwnedElsewhere, VRAMBudget, _cuda_available
from gpu_scheduler.registry import (
    TTS_FAST_F5,
    TTS_FAST_VOXCPM,
    TTS_HQ_BREEZYVOICE,
    TTS_HQ_COSYVOICE,
    TTS_HQ_VOXCPM,
    ModelSpec,
)

# TTS models also feed the seed's tts_model_load_seconds{mode}.
TTS_MODES = {TTS_FAST_F5: "fast", TTS_HQ_COSYVOICE: "hq", TTS_HQ_BREEZYVOICE: "hq",
             TTS_FAST_VOXCPM: "fast", TTS_HQ_VOXCPM: "hq"}

log = logging.getLogger(__name__)


def is_dead_local_owner(owner: str) -> bool:
    """True for ``hostname:pid`` of this host whose process no longer runs (killed, crashed):
    its bookings hold no weights any more. Another host's owner is never judged from here."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, someone else's
        return False
    return False

class ModelHost:
    """The model objects one worker process holds, kept in step with the shared budget.

    Typical use in a lane worker::

        host = ModelHost(budget)
        host.load(spec, lambda: build_model())   # reserve room (may evict), then load
        with host.using(spec.name) as model:     # counted as in use: never evicted
            model.generate(...)
        host.unload_idle()                       # e.g. from a periodic timer
    """

    def __init__(self, budget: VRAMBudget, *, owner: str | None = None) -> None:
        self.budget = budget
        self._owner = owner
        self._objects: dict[str, Any] = {}
        self.load_seconds: dict[str, float] = {}
        self._lock = threading.RLock()

    @property
    def owner(self) -> str:
        return self._owner or self.budget.owner

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._objects)

    def load(self, spec: ModelSpec, loader: Callable[[], Any], *, hold: bool = False,
             spare_recent_s: float = 0.0) -> Any:
        """The model object, loading it with ``loader`` after reserving room if needed.

        Carries out this process's pending evictions first. If the loader fails, the
        reservation is rolled back. A model another process holds idle is handed over (that
        process drops its copy on its next load); raises :class:`ModelOwnedElsewhere` if
        another process is using the model on this GPU right now. ``hold``: the model is
        counted as in use from its reservation on (see :meth:`holding`); the caller releases it.
        ``spare_recent_s``: see :meth:`VRAMBudget.reserve`.
        """
        with self._lock:
            self.apply_evictions()
            if spec.name in self._objects and self.budget.owner_of(spec.name) == self.owner:
                self.budget.reserve(spec, owner=self.owner, hold=hold)  # touches last-used
                return self._objects[spec.name]
            self._drop(spec.name)
            holder = self.budget.owner_of(spec.name)
            if holder is not None and holder != self.owner and is_dead_local_owner(holder):
                # A worker killed while it held the model (SIGKILL, OOM killer): without this
                # its booking would refuse the model to every later process.
                log.warning("%s was booked by %s, which no longer runs: booking released", spec.name, holder)
                self.budget.unload(spec.name, owner=holder, force=True)
            self.budget.reserve(spec, owner=self.owner, hold=hold, spare_recent_s=spare_recent_s)
            self.apply_evictions()  # room made from our own idle models: free it before loading
            holder = self.budget.owner_of(spec.name)
            if holder != self.owner:
                raise ModelOwnedElsewhere(f"{spec.name} is in use by {holder} on GPU {self.budget.gpu}")
            started = time.perf_counter()
            try:
                obj = loader()
            except BaseException:
                self.budget.unload(spec.name, owner=self.owner, force=True)
                raise
            self._objects[spec.name] = obj
            self.load_seconds[spec.name] = time.perf_counter() - started
            log.info("loaded %s in %.1f s (%d MiB booked on GPU %s)", spec.name, self.load_seconds[spec.name],
                     spec.footprint_mb, self.budget.gpu)
            observe_model_load(self.load_seconds[spec.name], gpu=self.budget.gpu, model=spec.name,
                               tts_mode=TTS_MODES.get(spec.name))
            return obj

    def get(self, name: str) -> Any:
        with self._lock:
            if name not in self._objects:
                raise ModelNotLoaded(name)
            return self._objects[name]

    @contextmanager
    def holding(self, spec: ModelSpec, loader: Callable[[], Any], *, spare_recent_s: float = 0.0) -> Iterator[Any]:
        """:meth:`load` and use in one: counted as in use from the reservation to the end of
        the block, so another worker's reservation cannot evict it while it loads or before
        the job starts using it (a plain ``load`` then ``using`` leaves that gap)."""
        obj = self.load(spec, loader, hold=True, spare_recent_s=spare_recent_s)
        try:
            yield obj
        finally:
            try:
                self.budget.release(spec.name)
            except ModelNotLoaded:  # force-unloaded meanwhile: nothing left to count
                pass

    @contextmanager
    def using(self, name: str) -> Iterator[Any]:
        """The model object, counted as in use (not evictable) for the block."""
        with self.budget.using(name):
            yield self.get(name)

    def unload(self, name: str, *, force: bool = False) -> bool:
        """Drop the object and its bookkeeping; False if this host did not hold it."""
        with self._lock:
            if name not in self._objects:
                return False
            try:
                self.budget.unload(name, owner=self.owner, force=force)
            except ModelOwnedElsewhere:
                pass  # evicted and re-loaded elsewhere: only our copy goes
            self._drop(name)
            return True

    def unload_idle(self, now: float | None = None) -> list[str]:
        """Unload this host's on-demand models idle longer than the budget's idle_unload_s."""
        with self._lock:
            names = self.budget.unload_idle(owner=self.owner, now=now)
            for name in names:
                self._drop(name)
            return names

    def apply_evictions(self) -> list[str]:
        """Drop the models other reservations evicted from this host; returns their names."""
        with self._lock:
            names = self.budget.pending_evictions(self.owner)
            for name in names:
                self._drop(name)
                self.budget.ack_eviction(name, self.owner)
                log.info("dropped %s: evicted from GPU %s to make room for another model", name, self.budget.gpu)
            return names

    def _drop(self, name: str) -> None:
        obj = self._objects.pop(name, None)
        self.load_seconds.pop(name, None)
        if obj is None:
            return
        del obj
        gc.collect()
        if "torch" in sys.modules and _cuda_available():
            import torch

            torch.cuda.empty_cache()
