"""Storage on the local filesystem, with HMAC-signed playback URLs served by the API.

Used in development and single-host deployments. The browser cannot read the disk, so
``url()`` points at the API's ``/api/v1/media/{key}`` route; the signature (HMAC-SHA256 of
key and expiry under ``secret_key``) lets that route serve the file without a login and
lets links expire like S3 presigned URLs do.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from avatar.storage.base import (
    InvalidStorageKey,
    Storage,
    StorageError,
    StorageKeyNotFound,
    StorageUnavailable,
    validate_key,
    validate_prefix,
)

__all__ = ["MEDIA_ROUTE_PREFIX", "LocalStorage"]

#: Path of the API route that serves signed local media (see ``api/routes/media.py``).
MEDIA_ROUTE_PREFIX = "/api/v1/media/"

_TMP_PREFIX = "."  # valid keys never start a segment with ".", so temp files cannot clash


class LocalStorage(Storage):
    """Files under ``root``; one file per key, written atomically."""

    name = "local"

    def __init__(self, root: Path, *, secret_key: str, base_url: str, ttl_s: int) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty: it signs the media URLs")
        if ttl_s <= 0:
            raise ValueError("ttl_s must be positive")
        self.root = Path(root)
        self.base_url = base_url.rstrip("/")
        self.ttl_s = int(ttl_s)
        self._secret = secret_key.encode("utf-8")

    # --- paths ----------------------------------------------------------------------
    def path_for(self, key: str) -> Path:
        """Absolute path of ``key``'s file; guaranteed to lie inside ``root``.

        Validation already rules out ``..`` and absolute keys; the resolve-and-compare also
        catches a symlink inside ``root`` that points elsewhere.
        """
        validate_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()
        if not path.is_relative_to(root) or path == root:
            raise InvalidStorageKey(f"storage key escapes the storage root: {key!r}")
        return path

    # --- Storage API ----------------------------------------------------------------
    def put(self, key: str, data: bytes, content_type: str = "audio/wav") -> None:
        """Write via a temp file in the same directory + ``os.replace``, so readers only ever
        see the old or the new complete file. ``content_type`` is not stored: the media route
        derives it from the key's extension."""
        path = self.path_for(key)
        try:
            for attempt in range(3):
                path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    fd, tmp_name = tempfile.mkstemp(
                        dir=path.parent, prefix=f"{_TMP_PREFIX}{path.name}.", suffix=".tmp"
                    )
                    break
                except FileNotFoundError:  # a concurrent delete pruned the empty directory
                    if attempt == 2:
                        raise
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.chmod(tmp_name, 0o644)
                os.replace(tmp_name, path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise StorageError(f"key {key!r} conflicts with an existing file or folder") from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {key!r} under {self.root}: {exc}") from exc

    def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise StorageKeyNotFound(key) from exc
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key!r} under {self.root}: {exc}") from exc

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def delete(self, key: str) -> None:
        path = self.path_for(key)
        try:
            path.unlink(missing_ok=True)
        except (IsADirectoryError, NotADirectoryError):
            return  # a folder (or a path through a file) is not an object: nothing to delete
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {key!r} under {self.root}: {exc}") from exc
        self._prune_empty_dirs(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        validate_prefix(prefix)
        root = self.root.resolve()
        # Only walk the deepest folder the prefix fully names; match the rest as a string.
        folder = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        base = (root / folder).resolve() if folder else root
        if not base.is_dir() or not base.is_relative_to(root):
            return 0
        removed = 0
        for dirpath, _dirnames, filenames in os.walk(base, topdown=False):
            for filename in filenames:
                if filename.startswith(_TMP_PREFIX):
                    continue  # an in-flight write, not an object
                path = Path(dirpath, filename)
                if path.relative_to(root).as_posix().startswith(prefix):
                    try:
                        path.unlink()
                        removed += 1
                    except FileNotFoundError:
                        pass  # deleted concurrently
                    except OSError as exc:
                        raise StorageUnavailable(f"cannot delete {path}: {exc}") from exc
            if Path(dirpath) != root:
                _rmdir_quietly(Path(dirpath))
        if base != root:
            self._prune_empty_dirs(base.parent)
        return removed

    def url(self, key: str, ttl_s: int | None = None) -> str:
        validate_key(key)
        ttl = self.ttl_s if ttl_s is None else int(ttl_s)
        if ttl <= 0:
            raise ValueError("ttl_s must be positive")
        exp = int(time.time()) + ttl
        return (
            f"{self.base_url}{MEDIA_ROUTE_PREFIX}{quote(key, safe='/')}"
            f"?exp={exp}&sig={self.sign(key, exp)}"
        )

    def check(self) -> None:
        """Create the root if needed and prove it is writable with a probe file."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=f"{_TMP_PREFIX}check."):
                pass
        except OSError as exc:
            raise StorageUnavailable(
                f"local storage directory {self.root} is not usable: {exc}"
            ) from exc

    # --- signatures -----------------------------------------------------------------
    def sign(self, key: str, exp: int) -> str:
        """Hex HMAC-SHA256 of ``key`` and ``exp``; the newline keeps the two fields apart."""
        message = f"{key}\n{int(exp)}".encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def verify(self, key: str, exp: int, sig: str, *, now: float | None = None) -> bool:
        """True iff ``sig`` was made by :meth:`sign` for this key and ``exp`` has not passed.

        Compared with ``hmac.compare_digest`` so timing does not leak the signature.
        """
        if not isinstance(sig, str) or not sig.isascii():
            return False
        if (time.time() if now is None else now) > exp:
            return False
        return hmac.compare_digest(self.sign(key, exp), sig)

    # --- helpers --------------------------------------------------------------------
    def _prune_empty_dirs(self, start: Path) -> None:
        """Remove now-empty folders from ``start`` up to (not including) the root, so deleted
        days and profiles do not leave a tree of empty directories behind."""
        root = self.root.resolve()
        current = start
        while current != root and current.is_relative_to(root):
            if not _rmdir_quietly(current):
                return
            current = current.parent


def _rmdir_quietly(path: Path) -> bool:
    try:
        path.rmdir()
    except OSError:  # not empty, already gone, or not ours to remove
        return False
    return True
