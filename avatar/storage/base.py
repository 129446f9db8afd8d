"""The one storage interface every audio producer and consumer talks to.

Workers write raw inputs, voice-profile samples and synthesized audio; the API hands out
time-limited playback URLs. Both only see :class:`Storage`, so switching between the local
disk backend (development, single host) and MinIO/S3 (deployment) is a settings change.

Keys are validated identically for every backend *before* any I/O. Otherwise a key that is
harmless in S3 (``a/../b``) could escape the root directory of the local backend, and a key
that works locally could fail only in production.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod

__all__ = [
    "InvalidStorageKey",
    "Storage",
    "StorageError",
    "StorageKeyNotFound",
    "StorageUnavailable",
    "validate_key",
    "validate_prefix",
]

MAX_KEY_LENGTH = 1024  # S3's own limit on object names.

# A segment starts with a letter, digit, "_" or "-": no "." / ".." and no hidden files, so
# the local backend's dot-prefixed temp files can never collide with a real key.
_SEGMENT_RE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class StorageError(Exception):
    """Base class of every storage failure."""


class InvalidStorageKey(StorageError, ValueError):
    """The key is not a safe relative POSIX path (traversal, absolute, odd characters...)."""


class StorageKeyNotFound(StorageError, LookupError):
    """No object is stored under the key."""


class StorageUnavailable(StorageError):
    """The backend cannot be reached or used (disk unwritable, object store down...)."""


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is a safe storage key, else raise InvalidStorageKey.

    A key is a relative POSIX path: non-empty ``/``-separated segments of ``[A-Za-z0-9._-]``,
    none starting with ``.``. That rules out ``..``, absolute paths, backslashes, ``//`` and
    trailing slashes.
    """
    if not isinstance(key, str) or not key:
        raise InvalidStorageKey("storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidStorageKey(f"storage key longer than {MAX_KEY_LENGTH} characters")
    if "\\" in key:
        raise InvalidStorageKey(f"storage key must not contain backslashes: {key!r}")
    if key.startswith("/"):
        raise InvalidStorageKey(f"storage key must be relative: {key!r}")
    for segment in key.split("/"):
        if not segment:
            raise InvalidStorageKey(f"storage key has an empty path segment: {key!r}")
        if segment in (".", ".."):
            raise InvalidStorageKey(f"storage key must not contain '.' or '..': {key!r}")
        if not _SEGMENT_RE.fullmatch(segment):
            raise InvalidStorageKey(
                f"storage key segment {segment!r} must match [A-Za-z0-9_-][A-Za-z0-9._-]*"
            )
    return key


def validate_prefix(prefix: str) -> str:
    """Validate a prefix for :meth:`Storage.delete_prefix`.

    Same rules as a key, except that one trailing ``/`` is allowed (``voice_profiles/42/``).
    The empty prefix is refused on purpose: "delete everything" should never be one typo away.
    """
    if not isinstance(prefix, str) or not prefix or prefix == "/":
        raise InvalidStorageKey("storage prefix must be non-empty (refusing to delete everything)")
    validate_key(prefix[:-1] if prefix.endswith("/") else prefix)
    return prefix


class Storage(ABC):
    """Abstract byte store addressed by validated keys.

    Implementations must call :func:`validate_key` on every key they receive and must not do
    any I/O in ``__init__`` (so settings can be turned into a storage object anywhere, cheaply).
    """

    #: Short backend name, e.g. ``"local"`` or ``"minio"`` (shown by /health and logs).
    name: str

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "audio/wav") -> None:
        """Store ``data`` under ``key``, replacing any previous object atomically."""

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the stored bytes; raise :class:`StorageKeyNotFound` if there are none."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; a missing key is not an error (deletes are idempotent)."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object whose key starts with ``prefix``; return how many were removed.

        ``prefix`` is a plain string prefix (S3 semantics), so ``voice_profiles/4`` also
        matches ``voice_profiles/42/...``; end it with ``/`` to mean one "directory".
        """

    @abstractmethod
    def url(self, key: str, ttl_s: int | None = None) -> str:
        """A URL a browser can fetch the object from, valid for ``ttl_s`` seconds.

        ``None`` means the backend's configured default TTL. The object need not exist yet.
        """

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`StorageUnavailable` with a clear message if the backend is unusable."""
