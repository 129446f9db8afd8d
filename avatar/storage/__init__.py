"""Audio storage: one :class:`Storage` interface, a local-disk and a MinIO/S3 backend.

Use :func:`get_storage` rather than constructing a backend, so the choice stays in settings
(``AVATAR_STORAGE_BACKEND=local|minio``).
"""

from __future__ import annotations

from avatar.settings import Settings, get_settings
from avatar.storage.base import (
    InvalidStorageKey,
    Storage,
    StorageError,
    StorageKeyNotFound,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)
from avatar.storage.keys import compact_ts, raw_input_key, synthesized_key, voice_profile_key
from avatar.storage.local import LocalStorage
from avatar.storage.s3 import S3Storage

__all__ = [
    "InvalidStorageKey",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StorageError",
    "StorageKeyNotFound",
    "StorageUnavailable",
    "compact_ts",
    "get_storage",
    "raw_input_key",
    "synthesized_key",
    "validate_key",
    "validate_prefix",
    "voice_profile_key",
]


def get_storage(settings: Settings | None = None) -> Storage:
    """Build the configured backend (no I/O; call ``check()`` to probe it).

    Not cached: construction is cheap, and tests can pass their own ``Settings``.
    """
    settings = settings or get_settings()
    if settings.storage_backend == "minio":
        return S3Storage(
            settings.minio_endpoint,
            settings.minio_access_key,
            settings.minio_secret_key,
            settings.minio_bucket,
            secure=settings.minio_secure,
            ttl_s=settings.media_url_ttl_s,
        )
    return LocalStorage(
        settings.resolved_storage_dir,
        secret_key=settings.require_secret_key(),
        base_url=settings.resolved_public_base_url,
        ttl_s=settings.media_url_ttl_s,
    )
