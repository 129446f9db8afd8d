"""The servers the system cannot work without, and the code each outage is reported under.

Redis (queue, turn state, pub/sub) and the Celery broker: ``QUEUE_UNAVAILABLE``; the database:
``DATABASE_UNAVAILABLE``. The API answers these with 503 and ``Retry-After`` (``api/main.py``);
a job that meets one runs again, then reports it (``tasks/guard.py``).
"""

from __future__ import annotations

from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import OperationalError as DatabaseUnavailable

from avatar.domain import ErrorCode

OUTAGE_CODES: dict[type[Exception], ErrorCode] = {
    RedisConnectionError: ErrorCode.QUEUE_UNAVAILABLE,
    RedisTimeoutError: ErrorCode.QUEUE_UNAVAILABLE,
    BrokerUnavailable: ErrorCode.QUEUE_UNAVAILABLE,
    DatabaseUnavailable: ErrorCode.DATABASE_UNAVAILABLE,
}
OUTAGES: tuple[type[Exception], ...] = tuple(OUTAGE_CODES)


def outage_code(exc: BaseException) -> ErrorCode:
    """The code of an outage exception (one of :data:`OUTAGES`)."""
    return next(code for kind, code in OUTAGE_CODES.items() if isinstance(exc, kind))


__all__ = ["OUTAGES", "OUTAGE_CODES", "BrokerUnavailable", "outage_code"]
