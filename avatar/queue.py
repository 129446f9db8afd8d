"""The Celery configuration, built from settings: queues and routes from the job contracts
(:data:`avatar.jobs.ROUTES`), per-task limits as annotations, and the Redis broker options.

``celeryconfig`` (what workers and Flower load) and :func:`producer_app` (what the API sends
with) both use :func:`celery_config`, so a producer and a worker can never disagree.
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu import Queue

from avatar import jobs
from avatar.domain import LANES
from avatar.settings import Settings


def task_annotations(settings: Settings) -> dict[str, dict[str, Any]]:
    """Time limits and retries per task (Celery applies them to the registered tasks)."""
    retries = settings.task_max_retries
    tts = {"soft_time_limit": settings.tts_soft_time_limit_s, "time_limit": settings.tts_time_limit_s}
    asr = {"soft_time_limit": settings.asr_soft_time_limit_s, "time_limit": settings.asr_time_limit_s}
    prosody = {"soft_time_limit": settings.prosody_soft_time_limit_s, "time_limit": settings.prosody_time_limit_s}
    hq_turn = {"soft_time_limit": settings.hq_turn_time_limit_s, "time_limit": settings.hq_turn_time_limit_s + 30}
    return {
        jobs.REPLY.task: {"soft_time_limit": settings.llm_soft_time_limit_s,
                          "time_limit": settings.llm_time_limit_s, "max_retries": retries},
        jobs.SPEECH_FAST.task: {**tts, "max_retries": retries},
        jobs.SPEECH_HQ.task: {**tts, "max_retries": retries},
        jobs.PREVIEW_FAST.task: {**tts, "max_retries": retries},
        jobs.PREVIEW_HQ.task: {**tts, "max_retries": retries},
        jobs.HQ_TURN.task: hq_turn,
        jobs.TRANSCRIBE_FINAL.task: {**asr, "max_retries": retries},
        jobs.TRANSCRIBE_PARTIAL.task: {**asr, "max_retries": 0},
        jobs.REFERENCE_TRANSCRIPT.task: {"soft_time_limit": settings.tts_soft_time_limit_s * 2,
                                         "time_limit": settings.tts_time_limit_s * 2, "max_retries": retries},
        jobs.PROSODY.task: {**prosody, "max_retries": retries},
        jobs.VOICE_ANALYSIS.task: {**prosody, "max_retries": retries},
        # A batch may take hours; it checkpoints per turn, so a redelivery resumes.
        jobs.RESYNTHESIS.task: {"soft_time_limit": 24 * 3600, "time_limit": 24 * 3600 + 60},
        jobs.RESYNTHESIS_FAST.task: {"soft_time_limit": 24 * 3600, "time_limit": 24 * 3600 + 60},
    }


def celery_config(settings: Settings) -> dict[str, Any]:
    transport = {
        # Redis priorities: 0 is the highest; each queue is split into ten sub-lists.
        "priority_steps": list(range(10)),
        "sep": ":",
        "queue_order_strategy": "priority",
        # Counted from delivery: must exceed the longest job or a running job is redelivered.
        "visibility_timeout": settings.visibility_timeout_s,
    }
    return {
        "broker_url": settings.resolved_broker_url,
        "broker_transport_options": transport,
        "broker_connection_retry_on_startup": True,
        # Results travel to the browser as Socket.IO events and into the database, never
        # through a result backend: storing them would only add Redis writes on the path to
        # first audio, and nobody reads them. So there is none.
        "result_backend": None,
        "task_ignore_result": True,
        "task_queues": [Queue(lane, routing_key=lane) for lane in LANES],
        "task_default_queue": jobs.REPLY.lane.value,
        "task_default_priority": 5,
        "task_routes": {route.task: {"queue": route.lane.value} for route in jobs.ROUTES},
        "task_annotations": task_annotations(settings),
        # Long GPU jobs: take one message at a time and acknowledge only when done, so a
        # queued high-priority job is never stuck behind a prefetched low-priority one and a
        # job whose worker dies is redelivered instead of lost.
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "task_reject_on_worker_lost": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "worker_send_task_events": settings.task_events,  # Flower shows tasks live
        "task_soft_time_limit": settings.tts_soft_time_limit_s,
        "task_time_limit": settings.tts_time_limit_s,
        "worker_max_tasks_per_child": None,
        "worker_hijack_root_logger": False,
        # A prefork child warms its lane up before reporting itself (openSMILE inline, 2-4 s
        # on a busy 2-core machine); Celery's default 4 s would kill and respawn it.
        "worker_proc_alive_timeout": 30.0,
    }


def producer_app(settings: Settings) -> Celery:
    """A Celery app that registers no task: it sends by name and asks workers for status."""
    app = Celery("avatar", set_as_current=False)
    app.conf.update(celery_config(settings))
    return app
