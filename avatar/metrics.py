"""Prometheus metrics of the API process (workers are watched through Flower's /metrics)."""

from prometheus_client import Counter, Gauge

SOCKET_CONNECTIONS = Gauge("avatar_socket_connections", "Socket.IO clients connected to this API process")
SOCKET_ERRORS = Counter("avatar_socket_errors_total", "error events sent to clients", ["code"])
TURNS_ACCEPTED = Counter("avatar_turns_accepted_total", "user messages accepted and queued")
SESSIONS_CREATED = Counter("avatar_sessions_created_total", "sessions created")
QUEUE_LENGTH = Gauge("avatar_queue_length", "messages waiting per lane (all priorities)", ["lane"])
LANE_WORKERS = Gauge("avatar_lane_workers", "live workers consuming each lane", ["lane"])
ACTIVE_SESSIONS = Gauge("avatar_active_sessions", "sessions holding an admission slot")
WAITING_SESSIONS = Gauge("avatar_waiting_sessions", "sessions refused as busy in the last 10 minutes")
HQ_SLOT_HELD = Gauge("avatar_hq_slot_held", "1 while an HQ synthesis holds the single slot")
HQ_BREAKER_STATE = Gauge("avatar_hq_breaker_state", "HQ engine breaker: 0 closed, 1 half-open, 2 open")
