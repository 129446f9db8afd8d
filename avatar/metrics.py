"""Prometheus metrics of the API process (workers are watched through Flower's /metrics)."""

from prometheus_client import Counter, Gauge

SOCKET_CONNECTIONS = Gauge("avatar_socket_connections", "Socket.IO clients connected to this API process")
SOCKET_ERRORS = Counter("avatar_socket_errors_total", "error events sent to clients", ["code"])
TURNS_ACCEPTED = Counter("avatar_turns_accepted_total", "user messages accepted and queued")
SESSIONS_CREATED = Counter("avatar_sessions_created_total", "sessions created")
QUEUE_LENGTH = Gauge("avatar_queue_length", "messages waiting per lane (all priorities)", ["lane"])
LANE_WORKERS = Gauge("avatar_lane_workers", "live workers consuming each lane", ["lane"])
