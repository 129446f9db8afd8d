"""Celery configuration (read by ``tasks.celery_app``); values come from ``avatar.settings``.

Lanes are separate queues, each served by dedicated workers (``avatar worker --lane NAME``):
priorities only order messages *within* a queue, so lanes are never mixed on one worker.
"""

from kombu import Queue

from avatar.settings import LANES, get_settings

_settings = get_settings()

broker_url = _settings.resolved_broker_url
result_backend = _settings.redis_url
# Redis priorities: 0 is the highest; each queue is split into ten sub-lists.
broker_transport_options = {
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
    # Counted from delivery: must exceed the longest job or a running job is redelivered.
    "visibility_timeout": _settings.visibility_timeout_s,
}
result_backend_transport_options = {"visibility_timeout": _settings.visibility_timeout_s}
broker_connection_retry_on_startup = True

task_queues = [Queue(lane, routing_key=lane) for lane in LANES]
task_default_queue = "llm"
task_default_priority = 5
task_routes = {
    "avatar.llm.*": {"queue": "llm"},
    "avatar.tts.fast.*": {"queue": "tts_fast"},
    "avatar.tts.hq.*": {"queue": "tts_hq"},
    "avatar.asr.*": {"queue": "asr"},
    "avatar.prosody.*": {"queue": "prosody"},
    "avatar.batch.*": {"queue": "batch"},
}

# Long GPU jobs: take one message at a time and acknowledge only when done, so a
# queued high-priority job is never stuck behind a prefetched low-priority one and a
# job whose worker dies is redelivered instead of lost.
task_acks_late = True
worker_prefetch_multiplier = 1
task_reject_on_worker_lost = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
# Results travel to the browser as Socket.IO events, never through the result backend:
# storing them would only add Redis writes on the path to first audio.
task_ignore_result = True
result_expires = 3600
worker_send_task_events = _settings.task_events  # Flower shows tasks live
task_soft_time_limit = _settings.tts_soft_time_limit_s
task_time_limit = _settings.tts_time_limit_s
worker_max_tasks_per_child = None
worker_hijack_root_logger = False

# A prefork child warms its lane up before reporting itself (tasks/warm_up.py: openSMILE
# inline, 2-4 s on a busy 2-core machine); Celery's default 4 s would kill and respawn it.
worker_proc_alive_timeout = 30.0
