"""Every Prometheus metric AVATAR exports, named as in the seed's architecture document (4.1.1).

Two kinds of process export them:

- **The API** (one process): the default registry, served at ``/api/v1/metrics``. Gauges
  that describe shared state (queue depth, admission, memory booked per model, breaker
  state) are read from Redis when Prometheus scrapes, so they are right whichever worker
  changed them.
- **Lane workers** (Celery prefork: a parent and N forked children). A per-process registry
  would lose what the children record, so ``avatar worker`` runs prometheus-client in
  *multiprocess mode*: it points ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory per
  worker before anything imports prometheus_client, the children write their samples to
  memory-mapped files there, and the parent serves the merged view over HTTP on
  ``AVATAR_WORKER_METRICS_PORT`` (``avatar.worker_metrics``). Prometheus scrapes each
  worker container on that port (``docker/monitoring/prometheus.yml``).

Workers record through the small ``observe_*`` helpers below, so the call sites stay one line
and the ASR/prosody code can record ``asr_rtf`` without knowing the metric objects.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets (seconds) around the seed's SLOs: TTFT < 0.5 s, first audio < 1.5 s.
_LATENCY_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
_RTF_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0)
_LOAD_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0)
_WAIT_BUCKETS = (0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

# --- API process ------------------------------------------------------------------------------
SOCKET_CONNECTIONS = Gauge("websocket_connections_active", "Socket.IO clients connected to this API process")
SOCKET_ERRORS = Counter("avatar_socket_errors_total", "error events sent to clients", ["code"])
TURNS_ACCEPTED = Counter("avatar_turns_accepted_total", "user messages accepted and queued")
SESSIONS_CREATED = Counter("avatar_sessions_created_total", "sessions created")
QUEUE_LENGTH = Gauge("avatar_queue_length", "messages waiting per lane (all priorities)", ["lane"])
LANE_WORKERS = Gauge("avatar_lane_workers", "live workers consuming each lane", ["lane"])
ACTIVE_SESSIONS = Gauge("active_sessions_count", "sessions holding an admission slot")
WAITING_SESSIONS = Gauge("avatar_waiting_sessions", "sessions refused as busy in the last 10 minutes")
HQ_SLOT_HELD = Gauge("avatar_hq_slot_held", "1 while an HQ synthesis holds the single slot")
HQ_BREAKER_STATE = Gauge("gpu_breaker_state", "engine breaker: 0 closed, 1 half-open, 2 open", ["breaker"])
GPU_MODEL_MEMORY = Gauge("gpu_model_memory_mb", "VRAM booked per loaded model (MiB)", ["gpu", "model"])
GPU_BUDGET = Gauge("gpu_budget_mb", "VRAM budget of each GPU (MiB)", ["gpu"])
GPU_USED = Gauge("gpu_used_mb", "VRAM booked on each GPU (MiB)", ["gpu"])

# --- workers (multiprocess mode; see the module docstring) --------------------------------------
LLM_TTFT = Histogram("llm_ttft_seconds", "accepted message -> first LLM token", ["model"], buckets=_LATENCY_BUCKETS)
ASR_RTF = Histogram("asr_rtf", "ASR processing time / audio duration", ["model"], buckets=_RTF_BUCKETS)
TTS_LATENCY = Histogram(
    "tts_synthesis_latency_seconds", "synthesis time of one sentence", ["mode", "engine"], buckets=_LATENCY_BUCKETS
)
TTS_MODEL_LOAD = Histogram("tts_model_load_seconds", "TTS model load time", ["mode"], buckets=_LOAD_BUCKETS)
E2E_LATENCY = Histogram(
    "conversation_e2e_latency_seconds", "accepted message -> first audio chunk sent, per completed turn",
    buckets=_LATENCY_BUCKETS,
)
MODEL_LOADS = Counter("gpu_model_loads_total", "models loaded onto a GPU", ["gpu", "model"])
MODEL_LOAD_SECONDS = Histogram("gpu_model_load_seconds", "model load time", ["gpu", "model"], buckets=_LOAD_BUCKETS)
MODEL_EVICTIONS = Counter("gpu_model_evictions_total", "models evicted to make room or for idleness", ["gpu", "reason"])
LOCK_WAIT = Histogram("gpu_lock_wait_seconds", "time spent acquiring a single-slot lock", ["lock", "outcome"],
                      buckets=_WAIT_BUCKETS)
GPU_OOM = Counter("gpu_oom_total", "CUDA out-of-memory errors in speech synthesis (retried, then exhausted)",
                  ["tier", "outcome"])
BREAKER_EVENTS = Counter("gpu_breaker_events_total", "breaker outcomes recorded", ["breaker", "event"])


def observe_llm_ttft(seconds: float, *, model: str) -> None:
    LLM_TTFT.labels(model=model).observe(seconds)


def observe_asr_rtf(processing_s: float, audio_s: float, *, model: str) -> None:
    """For the ASR lane: record one utterance's real-time factor (ignored for empty audio)."""
    if audio_s > 0:
        ASR_RTF.labels(model=model).observe(processing_s / audio_s)


def observe_tts_latency(seconds: float, *, mode: str, engine: str) -> None:
    TTS_LATENCY.labels(mode=mode, engine=engine).observe(seconds)


def observe_model_load(seconds: float, *, gpu: str, model: str, tts_mode: str | None = None) -> None:
    """A model finished loading; TTS engines also pass ``tts_mode`` (fast / hq)."""
    MODEL_LOADS.labels(gpu=gpu, model=model).inc()
    MODEL_LOAD_SECONDS.labels(gpu=gpu, model=model).observe(seconds)
    if tts_mode:
        TTS_MODEL_LOAD.labels(mode=tts_mode).observe(seconds)


def observe_e2e_latency(seconds: float) -> None:
    E2E_LATENCY.observe(seconds)


_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported_metric_names() -> set[str]:
    """Every series name the code exports (what a dashboard query may name)."""
    names: set[str] = set()
    for metric in list(globals().values()):
        if isinstance(metric, Counter | Gauge | Histogram):
            for family in metric.describe():
                names.add(family.name)
                names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names
