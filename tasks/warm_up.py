"""Load each lane's models when its worker starts, not when the first user is waiting.

The LLM and Whisper take seconds to load (Qwen2.5-0.5B on a CPU: several); without this the
first turn after `make up` pays for it. Loading runs in a background thread of each process
that executes tasks: Celery gives a prefork child only a few seconds to report that it is up
(``worker_proc_alive_timeout``), and a job that arrives meanwhile simply waits on the
engine's load lock. A model that is missing is left for the job to report with its fix.
openSMILE's first call (about a second) is paid inline, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from celery.concurrency import get_implementation
from celery.concurrency.prefork import TaskPool as PreforkPool
from celery.signals import celeryd_after_setup, worker_process_init

from avatar.domain import Lane
from avatar.engine_reports import STAGES, configured_engine, report_engine
from tasks.context import current
from workers.engines.registry import engine_availability
from workers.prosody.features import warm_up as warm_up_opensmile

log = logging.getLogger(__name__)

# Filled in the worker's main process before the pool starts; prefork children inherit it.
_lanes: set[str] = set()


def _warm_llm() -> bool:
    return current().engines.llm().warm_up()


def _warm_asr() -> bool:
    return current().engines.asr().warm_up()


def _warm_prosody() -> bool:
    warm_up_opensmile()
    return True


def report_engines(lanes: set[str]) -> None:
    """Tell /health whether this lane's engine can run here (no model is loaded for that)."""
    ctx = current()
    for lane in sorted(lanes & set(STAGES)):
        name = configured_engine(lane, ctx.settings)
        availability = engine_availability(lane, ctx.settings)
        try:
            report_engine(ctx.services.redis, lane, name, availability)
        except Exception:
            log.warning("%s lane: could not report engine availability", lane, exc_info=True)


# Lane → (warm-up, in a background thread?)
WARM_UPS: dict[str, tuple[Callable[[], bool], bool]] = {
    Lane.LLM.value: (_warm_llm, True),
    Lane.ASR.value: (_warm_asr, True),
    Lane.PROSODY.value: (_warm_prosody, False),
}


def _run(lane: str, warm: Callable[[], bool]) -> None:
    started = time.perf_counter()
    try:
        loaded = warm()
    except Exception:  # the first job loads again and reports the failure to its user
        log.warning("%s lane: warm-up failed; the first job will try again", lane, exc_info=True)
        return
    if loaded:
        log.info("%s lane: models warmed up in %.2f s", lane, time.perf_counter() - started)
    else:
        log.info("%s lane: nothing to load ahead (a remote engine, or no model on disk yet)", lane)


def warm_up_lanes(lanes: set[str]) -> None:
    report_engines(lanes)
    for lane in sorted(lanes & WARM_UPS.keys()):
        warm, background = WARM_UPS[lane]
        if background:
            threading.Thread(target=_run, args=(lane, warm), name=f"warm-up-{lane}", daemon=True).start()
        else:
            _run(lane, warm)


def _is_prefork(instance: Any) -> bool:
    # pool_cls is a name ("prefork", "threads") or a class, as given on the command line.
    return issubclass(get_implementation(instance.pool_cls), PreforkPool)


@celeryd_after_setup.connect
def _note_lanes(sender: Any, instance: Any, **_: Any) -> None:
    _lanes.update(instance.app.amqp.queues.consume_from)
    if not _is_prefork(instance):
        # Threads/solo pools run tasks in this process: load here. (A prefork parent must
        # not: each child loads its own copy after the fork.)
        warm_up_lanes(set(_lanes))


@worker_process_init.connect
def _warm_child(**_: Any) -> None:
    warm_up_lanes(set(_lanes))
