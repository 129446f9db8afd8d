"""The signed local-media route, mounted in a small FastAPI app over a real temp storage dir.

Only the storage *provider* dependency is overridden (to build storage from test Settings);
the storage, signing and file serving are the real code.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.routes import media
from avatar.settings import Settings
from avatar.storage import LocalStorage, Storage, get_storage

KEY = "synthesized/fast/turn1_0_20261122T130501123Z.wav"
PAYLOAD = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        storage_dir=tmp_path / "storage",
        secret_key="media-test-secret",
        public_base_url="http://testserver",
        media_url_ttl_s=600,
    )


@pytest.fixture
def storage(settings: Settings) -> LocalStorage:
    built = get_storage(settings)
    assert isinstance(built, LocalStorage)
    return built


def _client_for(settings: Settings) -> Iterator[TestClient]:
    app = FastAPI()
    app.include_router(media.router)
    app.dependency_overrides[media.get_media_storage] = lambda: get_storage(settings)
    with TestClient(app) as client:
        yield client


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    yield from _client_for(settings)


def _relative(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_valid_url_serves_the_file(client: TestClient, storage: LocalStorage) -> None:
    storage.put(KEY, PAYLOAD)
    response = client.get(_relative(storage.url(KEY)))
    assert response.status_code == 200
    assert response.content == PAYLOAD
    assert response.headers["content-type"] == "audio/wav"


def test_tampered_signature_is_403(client: TestClient, storage: LocalStorage) -> None:
    storage.put(KEY, PAYLOAD)
    url = _relative(storage.url(KEY))
    sig = url.rsplit("sig=", 1)[1]
    bad = url.replace(f"sig={sig}", "sig=" + ("0" if sig[0] != "0" else "1") + sig[1:])
    response = client.get(bad)
    assert response.status_code == 403
    assert response.json() == {"detail": "invalid signature"}
    # A signature for one key does not open another one.
    storage.put("synthesized/fast/other.wav", b"other")
    other = url.replace(KEY, "synthesized/fast/other.wav")
    assert client.get(other).status_code == 403
    # Missing parameters are a 403 too, not a validation error.
    assert client.get(f"/api/v1/media/{KEY}").status_code == 403
    assert client.get(f"/api/v1/media/{KEY}?exp=abc&sig={sig}").status_code == 403


def test_expired_url_is_403(client: TestClient, storage: LocalStorage) -> None:
    storage.put(KEY, PAYLOAD)
    exp = int(time.time()) - 5
    response = client.get(f"/api/v1/media/{KEY}?exp={exp}&sig={storage.sign(KEY, exp)}")
    assert response.status_code == 403
    assert response.json() == {"detail": "link expired"}


def test_unknown_key_is_404(client: TestClient, storage: LocalStorage) -> None:
    response = client.get(_relative(storage.url("synthesized/hq/missing.wav")))
    assert response.status_code == 404
    assert response.json() == {"detail": "media not found"}


@pytest.mark.parametrize(
    "raw_path",
    [
        "/api/v1/media/%2e%2e/%2e%2e/etc/passwd",
        "/api/v1/media/synthesized/%2e%2e/%2e%2e/secret.wav",
        "/api/v1/media/a%5C..%5Csecret.wav",
        "/api/v1/media//etc/passwd",
        "/api/v1/media/.hidden.wav",
    ],
)
def test_traversal_keys_never_serve_files(
    client: TestClient, storage: LocalStorage, tmp_path: Path, raw_path: str
) -> None:
    (tmp_path / "secret.wav").write_bytes(b"TOP-SECRET-BYTES")
    storage.put(KEY, PAYLOAD)
    exp = int(time.time()) + 60
    # Sign the decoded key with the real secret: even a validly signed hostile key is refused.
    key = raw_path.removeprefix("/api/v1/media/").replace("%2e", ".").replace("%5C", "\\")
    response = client.get(f"{raw_path}?exp={exp}&sig={storage.sign(key, exp)}")
    assert response.status_code in (400, 404)
    assert b"TOP-SECRET-BYTES" not in response.content
    assert "detail" in response.json()


def test_invalid_key_is_400(client: TestClient, storage: LocalStorage) -> None:
    exp = int(time.time()) + 60
    key = "synthesized/../../secret.wav"
    response = client.get(
        f"/api/v1/media/synthesized/%2e%2e/%2e%2e/secret.wav?exp={exp}&sig={storage.sign(key, exp)}"
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("invalid media key")


def test_non_local_backend_points_to_the_object_store(tmp_path: Path) -> None:
    settings = Settings(storage_backend="minio", minio_endpoint="127.0.0.1:1", data_dir=tmp_path)
    storage: Storage = get_storage(settings)
    assert storage.name == "minio"
    for client in _client_for(settings):
        response = client.get(f"/api/v1/media/{KEY}?exp=1&sig=x")
        assert response.status_code == 404
        assert "object store" in response.json()["detail"]
