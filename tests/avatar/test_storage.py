"""Storage backends against real components: a temp directory and a real S3 HTTP server.

MinIO's server binary cannot be downloaded in this environment, so the S3 tests run
``S3Storage`` (the real ``minio`` client, over real HTTP) against moto's standalone S3
server on loopback, which stands in for MinIO.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from avatar.settings import MissingSecretKey, Settings
from avatar.storage import (
    InvalidStorageKey,
    LocalStorage,
    S3Storage,
    StorageKeyNotFound,
    StorageUnavailable,
    compact_ts,
    get_storage,
    raw_input_key,
    synthesized_key,
    validate_key,
    validate_prefix,
    voice_profile_key,
)
from tests.conftest import require_dev_extra

HOSTILE_KEYS = [
    "",
    "/etc/passwd",
    "../escape.wav",
    "a/../../escape.wav",
    "a/./b.wav",
    "a//b.wav",
    "a/b/",
    "a\\b.wav",
    "..\\escape.wav",
    ".hidden",
    "a/.hidden/b.wav",
    "sp ace.wav",
    "naïve.wav",
    "a/b\x00.wav",
    "x" * 1025,
]

TS = datetime(2026, 11, 22, 13, 5, 1, 123456, tzinfo=timezone.utc)


# --- key layout ---------------------------------------------------------------------


def test_compact_ts_is_utc_with_milliseconds() -> None:
    assert compact_ts(TS) == "20261122T130501123Z"
    taipei = TS.astimezone(timezone(timedelta(hours=8)))
    assert compact_ts(taipei) == "20261122T130501123Z"
    with pytest.raises(ValueError):
        compact_ts(datetime(2026, 11, 22, 13, 5, 1))


def test_raw_input_key_layout_uses_utc_day() -> None:
    assert raw_input_key("s1", 7, TS) == "raw_inputs/2026/11/22/s1_7_20261122T130501123Z.wav"
    # 02:00 in Taipei on the 23rd is still the 22nd in UTC.
    late = datetime(2026, 11, 23, 2, 0, 0, tzinfo=timezone(timedelta(hours=8)))
    assert raw_input_key("s", "t", late).startswith("raw_inputs/2026/11/22/")
    sid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert raw_input_key(sid, 1, TS).split("/")[-1].startswith(f"{sid}_1_")


def test_voice_profile_and_synthesized_keys() -> None:
    assert voice_profile_key(42) == "voice_profiles/42/original.wav"
    assert voice_profile_key("p1", "clean.wav") == "voice_profiles/p1/clean.wav"
    assert synthesized_key("fast", 9, 0, TS) == "synthesized/fast/9_0_20261122T130501123Z.wav"
    assert synthesized_key("hq", "t", 12, TS) == "synthesized/hq/t_12_20261122T130501123Z.wav"


@pytest.mark.parametrize(
    "call",
    [
        lambda: synthesized_key("slow", 1, 0, TS),  # type: ignore[arg-type]
        lambda: synthesized_key("fast", 1, -1, TS),
        lambda: voice_profile_key("../x"),
        lambda: voice_profile_key("p", "../../etc/passwd"),
        lambda: raw_input_key("a/b", 1, TS),
    ],
)
def test_key_builders_reject_bad_input(call) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):  # InvalidStorageKey is a ValueError too
        call()


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_validate_key_rejects_hostile_keys(key: str) -> None:
    with pytest.raises(InvalidStorageKey):
        validate_key(key)


def test_validate_prefix() -> None:
    assert validate_prefix("voice_profiles/42/") == "voice_profiles/42/"
    assert validate_prefix("raw") == "raw"
    for bad in ("", "/", "../", "a//"):
        with pytest.raises(InvalidStorageKey):
            validate_prefix(bad)


# --- local backend -------------------------------------------------------------------


@pytest.fixture
def local(tmp_path: Path) -> LocalStorage:
    return LocalStorage(
        tmp_path / "store", secret_key="test-secret", base_url="http://testserver/", ttl_s=600
    )


def test_local_construction_does_no_io(tmp_path: Path) -> None:
    LocalStorage(tmp_path / "nope", secret_key="s", base_url="http://x", ttl_s=60)
    assert not (tmp_path / "nope").exists()


def test_local_put_get_exists_delete(local: LocalStorage) -> None:
    key = "raw_inputs/2026/11/22/s_t_20261122T130501123Z.wav"
    assert not local.exists(key)
    with pytest.raises(StorageKeyNotFound):
        local.get(key)
    local.put(key, b"RIFF1234")
    assert local.exists(key)
    assert local.get(key) == b"RIFF1234"
    assert local.path_for(key).read_bytes() == b"RIFF1234"
    local.delete(key)
    assert not local.exists(key)
    local.delete(key)  # idempotent
    # Emptied day folders are pruned, the root stays.
    assert not (local.root / "raw_inputs").exists()
    assert local.root.is_dir()


def test_local_overwrite_is_atomic_and_leaves_no_temp_files(local: LocalStorage) -> None:
    key = "voice_profiles/p/original.wav"
    local.put(key, b"old" * 1000)
    inode_before = local.path_for(key).stat().st_ino
    local.put(key, b"new")
    assert local.get(key) == b"new"
    # os.replace swaps in a new file rather than truncating the old one in place.
    assert local.path_for(key).stat().st_ino != inode_before
    assert sorted(p.name for p in local.path_for(key).parent.iterdir()) == ["original.wav"]


def test_local_delete_prefix(local: LocalStorage) -> None:
    keys = [
        "voice_profiles/4/original.wav",
        "voice_profiles/42/original.wav",
        "voice_profiles/42/clean.wav",
        "voice_profiles/5/original.wav",
        "synthesized/fast/1_0_x.wav",
    ]
    for k in keys:
        local.put(k, k.encode())
    assert local.delete_prefix("voice_profiles/42/") == 2
    assert [k for k in keys if local.exists(k)] == [keys[0], keys[3], keys[4]]
    assert not (local.root / "voice_profiles" / "42").exists()
    # Plain string-prefix semantics, like S3.
    assert local.delete_prefix("voice_profiles/") == 2
    assert local.delete_prefix("voice_profiles/") == 0
    assert local.delete_prefix("nothing/here/") == 0
    assert local.delete_prefix("synth") == 1
    assert list(local.root.iterdir()) == []
    with pytest.raises(InvalidStorageKey):
        local.delete_prefix("")


@pytest.mark.parametrize("key", HOSTILE_KEYS)
def test_local_rejects_hostile_keys_everywhere(local: LocalStorage, key: str) -> None:
    for op in (
        lambda: local.put(key, b"x"),
        lambda: local.get(key),
        lambda: local.exists(key),
        lambda: local.delete(key),
        lambda: local.url(key),
        lambda: local.path_for(key),
    ):
        with pytest.raises(InvalidStorageKey):
            op()
    assert not local.root.exists()  # nothing was written anywhere


def test_local_path_for_stays_inside_root_through_symlinks(
    local: LocalStorage, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.wav").write_bytes(b"secret")
    local.root.mkdir(parents=True)
    os.symlink(outside, local.root / "link")
    with pytest.raises(InvalidStorageKey):
        local.path_for("link/secret.wav")
    with pytest.raises(InvalidStorageKey):
        local.get("link/secret.wav")


def _url_parts(url: str) -> tuple[str, str, int, str]:
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return parts.netloc, parts.path, int(query["exp"][0]), query["sig"][0]


def test_local_signed_url_verifies(local: LocalStorage) -> None:
    key = "synthesized/hq/t_0_20261122T130501123Z.wav"
    before = int(time.time())
    netloc, path, exp, sig = _url_parts(local.url(key))
    assert netloc == "testserver"
    assert path == f"/api/v1/media/{key}"
    assert before + 600 <= exp <= int(time.time()) + 600
    assert local.verify(key, exp, sig)
    assert _url_parts(local.url(key, ttl_s=60))[2] <= int(time.time()) + 60


def test_local_signed_url_rejects_tampering(local: LocalStorage) -> None:
    key = "synthesized/hq/a.wav"
    _, _, exp, sig = _url_parts(local.url(key))
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    assert not local.verify(key, exp, flipped)
    assert not local.verify("synthesized/hq/b.wav", exp, sig)
    assert not local.verify(key, exp + 1, sig)
    assert not local.verify(key, exp, "")
    assert not local.verify(key, exp, "é" * 64)
    other = LocalStorage(local.root, secret_key="other", base_url="http://x", ttl_s=600)
    assert not other.verify(key, exp, sig)


def test_local_signed_url_expires(local: LocalStorage) -> None:
    key = "synthesized/fast/a.wav"
    _, _, exp, sig = _url_parts(local.url(key, ttl_s=60))
    assert local.verify(key, exp, sig, now=exp)
    assert not local.verify(key, exp, sig, now=exp + 1)
    past = int(time.time()) - 1
    assert not local.verify(key, past, local.sign(key, past))


def test_local_check(local: LocalStorage, tmp_path: Path) -> None:
    local.check()
    assert local.root.is_dir()
    assert list(local.root.iterdir()) == []  # the probe file is gone
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    broken = LocalStorage(blocker / "sub", secret_key="s", base_url="http://x", ttl_s=60)
    with pytest.raises(StorageUnavailable, match="not usable"):
        broken.check()


def test_get_storage_builds_from_settings(tmp_path: Path) -> None:
    storage = get_storage(
        Settings(storage_dir=tmp_path, secret_key="k", public_base_url="https://avatar.example")
    )
    assert isinstance(storage, LocalStorage) and storage.name == "local"
    assert storage.root == tmp_path
    assert storage.url("a.wav").startswith("https://avatar.example/api/v1/media/a.wav?exp=")
    default = get_storage(Settings(data_dir=tmp_path, secret_key="k"))
    assert isinstance(default, LocalStorage)
    assert default.root == tmp_path / "storage"
    s3 = get_storage(Settings(storage_backend="minio", minio_endpoint="127.0.0.1:1"))
    assert isinstance(s3, S3Storage) and s3.name == "minio"
    # Local links are signed: no secret key, no storage (presigned S3 links need none).
    with pytest.raises(MissingSecretKey, match="AVATAR_SECRET_KEY.*make up"):
        get_storage(Settings(data_dir=tmp_path, secret_key=""))


# --- S3 backend (moto's S3 server standing in for MinIO) ----------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """Start moto's standalone S3 server on a free loopback port; stop it afterwards."""
    require_dev_extra("moto.server", "moto[server]")  # a missing dev extra fails, never skips
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                pytest.fail(f"moto server exited early with code {proc.returncode}")
            try:
                httpx.get(f"http://{endpoint}/", timeout=1.0)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    pytest.fail("moto server did not answer within 30 s")
                time.sleep(0.1)
        yield endpoint
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def s3(s3_endpoint: str) -> S3Storage:
    # A fresh bucket per test keeps tests independent on the shared server.
    return S3Storage(
        s3_endpoint, "testing", "testing", f"avatar-{uuid.uuid4().hex[:12]}", ttl_s=300
    )


@pytest.mark.slow
def test_s3_put_get_exists_delete(s3: S3Storage) -> None:
    key = raw_input_key("s", "t", TS)
    assert not s3.exists(key)  # bucket not created yet: still a clean "no"
    with pytest.raises(StorageKeyNotFound):
        s3.get(key)
    s3.delete(key)  # no error on a missing bucket/key
    s3.put(key, b"RIFF-data")
    assert s3.exists(key)
    assert s3.get(key) == b"RIFF-data"
    s3.put(key, b"replaced")
    assert s3.get(key) == b"replaced"
    s3.delete(key)
    assert not s3.exists(key)
    s3.delete(key)
    with pytest.raises(StorageKeyNotFound):
        s3.get(key)


@pytest.mark.slow
def test_s3_delete_prefix(s3: S3Storage) -> None:
    keys = [voice_profile_key(4), voice_profile_key(42), voice_profile_key(42, "clean.wav")]
    keys.append(synthesized_key("fast", 1, 0, TS))
    assert s3.delete_prefix("voice_profiles/") == 0
    for k in keys:
        s3.put(k, k.encode())
    assert s3.delete_prefix("voice_profiles/42/") == 2
    assert [k for k in keys if s3.exists(k)] == [keys[0], keys[3]]
    assert s3.delete_prefix("voice_profiles/") == 1
    assert s3.delete_prefix("synth") == 1
    assert not any(s3.exists(k) for k in keys)
    with pytest.raises(InvalidStorageKey):
        s3.delete_prefix("")


@pytest.mark.slow
def test_s3_presigned_url_downloads_the_bytes(s3: S3Storage, s3_endpoint: str) -> None:
    key = synthesized_key("hq", "t1", 3, TS)
    payload = os.urandom(4096)
    s3.put(key, payload)
    url = s3.url(key, ttl_s=120)
    assert url.startswith(f"http://{s3_endpoint}/{s3.bucket}/{key}?")
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["120"]
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200
    assert response.content == payload
    assert response.headers["content-type"] == "audio/wav"


@pytest.mark.slow
def test_s3_rejects_hostile_keys(s3: S3Storage) -> None:
    for key in HOSTILE_KEYS:
        with pytest.raises(InvalidStorageKey):
            s3.put(key, b"x")
        with pytest.raises(InvalidStorageKey):
            s3.url(key)


@pytest.mark.slow
def test_s3_check_ok(s3: S3Storage) -> None:
    s3.check()  # bucket missing is fine: it is created on first write
    s3.put("a.wav", b"x")
    s3.check()


def test_s3_check_unreachable_is_fast_and_clear() -> None:
    port = _free_port()  # closed again by now: nothing listens there
    storage = S3Storage(f"127.0.0.1:{port}", "k", "s", "bucket", check_timeout_s=0.5)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable, match=rf"127\.0\.0\.1:{port}.*unavailable"):
        storage.check()
    assert time.monotonic() - started < 5
    with pytest.raises(StorageUnavailable):
        storage.put("a.wav", b"x")
