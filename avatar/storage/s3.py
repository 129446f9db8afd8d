"""Storage in MinIO (or any S3-compatible object store) through the ``minio`` client.

Used in deployments where API and workers run on different hosts. Playback URLs are S3
presigned GETs, so audio bytes go straight from the object store to the browser.

Construction does no I/O; the bucket is created on first use. Network failures surface as
:class:`StorageUnavailable`, so callers handle "store is down" in one place.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

import urllib3
from minio import Minio
from minio.deleteobjects import DeleteObject
from minio.error import MinioException, S3Error

from avatar.storage.base import (
    Storage,
    StorageError,
    StorageKeyNotFound,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)

__all__ = ["S3Storage"]

T = TypeVar("T")

_MISSING_CODES = frozenset(
    {"NoSuchKey", "NoSuchObject", "NoSuchBucket", "NotFound", "ResourceNotFound"}
)
_MAX_PRESIGN_TTL_S = 7 * 24 * 3600  # the S3 SigV4 maximum


class S3Storage(Storage):
    """Objects in one bucket of an S3-compatible store."""

    name = "minio"

    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        region: str | None = None,
        ttl_s: int = 3600,
        timeout_s: float = 10.0,
        check_timeout_s: float = 2.0,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.endpoint = endpoint
        self.bucket = bucket
        self.secure = secure
        self.ttl_s = int(ttl_s)
        self.check_timeout_s = check_timeout_s
        self._lock = threading.Lock()
        self._bucket_ready = False
        # Bounded timeouts and few retries: a dead store must fail a task, not hang it.
        self._client = self._make_client(
            access_key, secret_key, region, timeout_s,
            urllib3.Retry(total=3, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)),
        )
        # /health wants a fast yes/no: short timeout and no retries at all.
        self._check_client = self._make_client(
            access_key, secret_key, region, check_timeout_s, urllib3.Retry(total=0)
        )

    def _make_client(
        self, access_key: str, secret_key: str, region: str | None,
        timeout_s: float, retries: urllib3.Retry,
    ) -> Minio:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=timeout_s, read=timeout_s), retries=retries,
        )
        return Minio(
            self.endpoint, access_key=access_key, secret_key=secret_key,
            secure=self.secure, region=region, http_client=http,
        )

    # --- Storage API ----------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str = "audio/wav") -> None:
        validate_key(key)
        self._ensure_bucket()
        self._call(
            f"put {key!r}",
            lambda: self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            ),
        )

    def get(self, key: str) -> bytes:
        validate_key(key)

        def fetch() -> bytes:
            response = self._client.get_object(self.bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        try:
            return self._call(f"get {key!r}", fetch)
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                raise StorageKeyNotFound(key) from exc
            raise StorageError(f"get {key!r} failed: {exc}") from exc

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            self._call(f"stat {key!r}", lambda: self._client.stat_object(self.bucket, key))
        except S3Error as exc:
            if exc.code in _MISSING_CODES:
                return False
            raise StorageError(f"stat {key!r} failed: {exc}") from exc
        return True

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            self._call(f"delete {key!r}", lambda: self._client.remove_object(self.bucket, key))
        except S3Error as exc:
            if exc.code not in _MISSING_CODES:
                raise StorageError(f"delete {key!r} failed: {exc}") from exc

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)

        def remove_all() -> int:
            names = [
                obj.object_name
                for obj in self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if obj.object_name is not None
            ]
            if not names:
                return 0
            # remove_objects is lazy: the errors iterator must be drained for anything to happen.
            errors = list(
                self._client.remove_objects(self.bucket, (DeleteObject(n) for n in names))
            )
            if errors:
                raise StorageError(
                    f"delete_prefix {prefix!r}: {len(errors)} of {len(names)} deletes failed, "
                    f"first: {errors[0].name}: {errors[0].message}"
                )
            return len(names)

        try:
            return self._call(f"delete_prefix {prefix!r}", remove_all)
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return 0
            raise StorageError(f"delete_prefix {prefix!r} failed: {exc}") from exc

    def url(self, key: str, ttl_s: int | None = None) -> str:
        """Presigned GET URL. Signing is local, except that minio may look up the bucket's
        region once (cached) when no ``region`` was given."""
        validate_key(key)
        ttl = self.ttl_s if ttl_s is None else int(ttl_s)
        if not 0 < ttl <= _MAX_PRESIGN_TTL_S:
            raise ValueError(f"ttl_s must be in 1..{_MAX_PRESIGN_TTL_S}")
        return self._call(
            f"presign {key!r}",
            lambda: self._client.presigned_get_object(
                self.bucket, key, expires=timedelta(seconds=ttl)
            ),
        )

    def check(self) -> None:
        """One ``bucket_exists`` call with the short-timeout, no-retry client.

        A missing bucket is healthy (it is created on first write); unreachable endpoints,
        bad credentials and other errors raise :class:`StorageUnavailable`.
        """
        try:
            self._check_client.bucket_exists(self.bucket)
        except Exception as exc:  # anything at all means "not usable" to /health
            raise StorageUnavailable(
                f"object store {self._where()} bucket {self.bucket!r} is unavailable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    # --- helpers --------------------------------------------------------------------
    def _ensure_bucket(self) -> None:
        if self._bucket_ready:
            return
        with self._lock:
            if self._bucket_ready:
                return

            def create() -> None:
                if not self._client.bucket_exists(self.bucket):
                    try:
                        self._client.make_bucket(self.bucket)
                    except S3Error as exc:  # another process won the race
                        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                            raise

            try:
                self._call(f"create bucket {self.bucket!r}", create)
            except S3Error as exc:
                raise StorageUnavailable(
                    f"cannot create bucket {self.bucket!r} at {self._where()}: {exc}"
                ) from exc
            self._bucket_ready = True

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run ``fn``; S3 errors pass through (callers map codes), transport errors become
        StorageUnavailable with the endpoint in the message."""
        try:
            return fn()
        except S3Error:
            raise
        except (urllib3.exceptions.HTTPError, MinioException, OSError) as exc:
            raise StorageUnavailable(f"{what} at {self._where()} failed: {exc}") from exc

    def _where(self) -> str:
        return f"{'https' if self.secure else 'http'}://{self.endpoint}"
