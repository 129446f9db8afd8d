"""``avatar models pull`` against a local HTTP server standing in for the Hugging Face Hub.

The CLI runs as a real subprocess with ``HF_ENDPOINT`` pointed at the stand-in, so the
download path is huggingface_hub's own (HEAD metadata, cache layout, ``.incomplete`` files,
Range resumption, progress bars). The stand-in serves the three endpoints that path uses:
``/api/models/{repo}/revision/{rev}``, and HEAD/GET ``/{repo}/resolve/{rev}/{file}``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = "avatar-test/tiny-model"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
# An "LFS" file large enough to interrupt mid-way: huggingface_hub writes in 10 MiB chunks.
WEIGHTS = os.urandom(16 * 1024 * 1024)
CHUNK = 10 * 1024 * 1024
CONFIG = b'{"model_type": "tiny"}\n'  # a small git file (no LFS sha on the Hub)
FILES = {"model.safetensors": WEIGHTS, "config.json": CONFIG}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Hub:
    """What the fake Hub saw, and how it misbehaves."""

    def __init__(self) -> None:
        self.ranges: list[str] = []
        self.gets: list[str] = []  # file downloads (GET on resolve/)
        self.drop_after: int | None = None  # send this many bytes of the weights, then cut the line


def make_handler(hub: Hub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _resolve(self) -> tuple[str, bytes] | None:
            m = re.fullmatch(rf"/{REPO}/resolve/([^/]+)/(.+)", self.path.split("?")[0])
            if not m or m.group(1) not in ("main", COMMIT) or m.group(2) not in FILES:
                return None
            return m.group(2), FILES[m.group(2)]

        def _headers(self, name: str, data: bytes, status: int = 200, length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("X-Repo-Commit", COMMIT)
            etag = sha(data) if name.endswith(".safetensors") else hashlib.sha1(data).hexdigest()
            self.send_header("ETag", f'"{etag}"')
            if name.endswith(".safetensors"):
                self.send_header("X-Linked-Etag", f'"{etag}"')
                self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Content-Length", str(len(data) if length is None else length))
            self.send_header("Accept-Ranges", "bytes")

        def _not_found(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self) -> None:  # noqa: N802
            found = self._resolve()
            if found is None:
                return self._not_found()
            self._headers(*found)
            self.end_headers()

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith(f"/api/models/{REPO}/revision/"):
                body = json.dumps({
                    "id": REPO, "sha": COMMIT, "siblings": [
                        {"rfilename": "config.json", "size": len(CONFIG), "blobId": hashlib.sha1(CONFIG).hexdigest()},
                        {"rfilename": "model.safetensors", "size": len(WEIGHTS), "blobId": "x",
                         "lfs": {"sha256": sha(WEIGHTS), "size": len(WEIGHTS), "pointerSize": 134}},
                    ],
                }).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            found = self._resolve()
            if found is None:
                return self._not_found()
            name, data = found
            hub.gets.append(name)
            start = 0
            if self.headers.get("Range"):
                hub.ranges.append(self.headers["Range"])
                start = int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1))
                self._headers(name, data, status=206, length=len(data) - start)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self._headers(name, data)
            self.end_headers()
            if name == "model.safetensors" and hub.drop_after is not None and start == 0:
                self.wfile.write(data[: hub.drop_after])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection dies mid-body
                return
            self.wfile.write(data[start:])

    return Handler


@pytest.fixture
def hub() -> Iterator[tuple[Hub, str]]:
    state = Hub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def write_manifest(path: Path, *, files: dict[str, str] | None, local_dir: str | None = None) -> Path:
    entry = {"repo": REPO, "revision": COMMIT if files else "main", "allow": ["*"], "local_dir": local_dir,
             "files": {n: {"sha256": s, "size": len(FILES[n])} for n, s in (files or {}).items()}}
    path.write_text(json.dumps({"profiles": {"cpu": ["tiny"]}, "models": {"tiny": entry}}))
    return path


def run_pull(tmp: Path, endpoint: str, manifest: Path, *extra: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ, "HF_ENDPOINT": endpoint, "HF_HOME": str(tmp / "hf"), "HF_HUB_OFFLINE": "1" if offline else "0",
        "AVATAR_DATA_DIR": str(tmp / "var"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_ETAG_TIMEOUT": "5",
        "HF_HUB_DOWNLOAD_TIMEOUT": "60",
        # huggingface_hub draws its bars on a terminal only; this is its switch to draw them into a pipe.
        "TQDM_POSITION": "-1",
    }
    argv = [sys.executable, "-m", "cli", "models", "pull", "--profile", "cpu", "--manifest", str(manifest), *extra]
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=240)


def test_lock_then_pull_then_offline_verify(tmp_path: Path, hub: tuple[Hub, str]) -> None:
    state, endpoint = hub
    manifest = write_manifest(tmp_path / "models.lock.json", files=None)
    refused = run_pull(tmp_path, endpoint, manifest)
    assert refused.returncode == 1 and "no locked checksums" in refused.stderr

    locked = run_pull(tmp_path, endpoint, manifest, "--lock")
    assert locked.returncode == 0, locked.stderr
    entry = json.loads(manifest.read_text())["models"]["tiny"]
    assert entry["revision"] == COMMIT
    assert entry["files"]["model.safetensors"]["sha256"] == sha(WEIGHTS)  # the Hub's LFS sum, matched
    assert entry["files"]["config.json"]["sha256"] == sha(CONFIG)  # hashed locally
    assert "model.safetensors" in locked.stderr and "%" in locked.stderr  # huggingface_hub's progress bar

    # The services run offline: a pull then downloads nothing and verifies the cache.
    offline = run_pull(tmp_path, "http://127.0.0.1:9", manifest, offline=True)
    assert offline.returncode == 0, offline.stderr
    assert "2 files in 1 models verified" in offline.stdout


def test_an_interrupted_download_resumes_where_it_stopped(tmp_path: Path, hub: tuple[Hub, str]) -> None:
    """The connection dies after 12 of 16 MiB: huggingface_hub asks for the rest with a Range
    request (from the last whole 10 MiB chunk it wrote) instead of starting over, and the
    joined file passes the SHA-256 check.

    (huggingface_hub 1.x/2.x writes each attempt to a per-process temporary file, so a
    *killed* pull restarts the file it was on; files it had finished are kept and skipped.)
    """
    state, endpoint = hub
    manifest = write_manifest(tmp_path / "m.json", files={"model.safetensors": sha(WEIGHTS), "config.json": sha(CONFIG)},
                              local_dir="tiny-model")
    state.drop_after = 12 * 1024 * 1024
    result = run_pull(tmp_path, endpoint, manifest)
    assert result.returncode == 0, result.stderr
    assert len(state.ranges) == 1, state.ranges
    resumed_at = int(re.match(r"bytes=(\d+)-", state.ranges[0]).group(1))
    assert CHUNK <= resumed_at <= state.drop_after, "the retry must resume, not start over"
    weights = tmp_path / "var" / "models" / "tiny-model" / "model.safetensors"
    assert sha(weights.read_bytes()) == sha(WEIGHTS)
    assert "ok  tiny: model.safetensors" in result.stdout

    state.gets.clear()
    again = run_pull(tmp_path, endpoint, manifest)  # finished files are not fetched again
    assert again.returncode == 0 and state.gets == []


def test_a_checksum_mismatch_fails_clearly_and_deletes_the_file(tmp_path: Path, hub: tuple[Hub, str]) -> None:
    _, endpoint = hub
    wrong = "0" * 64
    manifest = write_manifest(tmp_path / "m.json", files={"model.safetensors": wrong, "config.json": sha(CONFIG)})
    result = run_pull(tmp_path, endpoint, manifest)
    assert result.returncode == 1
    assert f"SHA-256 mismatch for {REPO}/model.safetensors: expected {wrong}, got {sha(WEIGHTS)}" in result.stderr
    assert "The file was deleted" in result.stderr
    blobs = list((tmp_path / "hf").rglob("blobs/*"))
    assert all(b.read_bytes() != WEIGHTS for b in blobs if b.is_file()), "the bad file stayed in the cache"


def test_each_cosyvoice_folder_the_settings_default_to_is_a_manifest_entry(tmp_path: Path) -> None:
    """The gpu profile pulls CosyVoice 3 where the settings look for it; CosyVoice 2 stays pullable."""
    from avatar.settings import Settings
    from models.pull import DEFAULT_MANIFEST, Manifest

    manifest = Manifest.load(DEFAULT_MANIFEST)
    for profile, settings_profile in (("gpu", "gpu"), ("gpu-cosyvoice2", "cpu")):
        folder = Settings(models_dir=tmp_path, profile=settings_profile).cosyvoice_model_dir
        assert any(tmp_path / e.local_dir == Path(folder) for e in manifest.entries(profile) if e.local_dir), profile


# A stand-in for ct2-transformers-converter with its arguments: reads the downloaded folder,
# writes a CTranslate2-like folder (or fails when the input holds no config.json).
CONVERTER = """
import pathlib, shutil, sys
args = sys.argv[1:]
src, dest = pathlib.Path(args[args.index("--model") + 1]), pathlib.Path(args[args.index("--output_dir") + 1])
if not (src / "config.json").is_file():
    sys.exit("no config.json in " + str(src))
dest.mkdir(parents=True)
shutil.copy(src / "config.json", dest / "config.json")
(dest / "model.bin").write_bytes(b"converted " + str(len((src / "model.safetensors").read_bytes())).encode())
print("converted", args)
"""


def test_an_entry_with_a_convert_step_is_converted_once_after_its_checksums(
    tmp_path: Path, hub: tuple[Hub, str]
) -> None:
    """Breeze-ASR-25's route: the verified transformers download, converted for faster-whisper."""
    state, endpoint = hub
    files = {"model.safetensors": sha(WEIGHTS), "config.json": sha(CONFIG)}
    manifest = write_manifest(tmp_path / "m.json", files=files, local_dir="tiny-hf")
    data = json.loads(manifest.read_text())
    command = [sys.executable, "-c", CONVERTER, "--model", "{src}", "--output_dir", "{dest}",
               "--quantization", "float16"]
    data["models"]["tiny"]["convert"] = {"command": command, "local_dir": "tiny-ct2"}
    manifest.write_text(json.dumps(data))
    result = run_pull(tmp_path, endpoint, manifest)
    assert result.returncode == 0, result.stderr
    converted = tmp_path / "var" / "models" / "tiny-ct2"
    assert (converted / "model.bin").read_bytes() == f"converted {len(WEIGHTS)}".encode()
    assert (converted / "config.json").read_bytes() == CONFIG
    assert json.loads((converted / ".avatar-converted.json").read_text())["revision"] == COMMIT
    assert "convert tiny:" in result.stdout and "ok  tiny: converted into" in result.stdout
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".tiny-ct2-")], "no staging left"

    # Offline, again: verified, and the current conversion is kept, not redone.
    again = run_pull(tmp_path, "http://127.0.0.1:9", manifest, offline=True)
    assert again.returncode == 0, again.stderr
    assert "converted folder" in again.stdout and "is current" in again.stdout and "convert tiny:" not in again.stdout

    # A conversion that fails says so with the converter's words, and leaves nothing half-made.
    (tmp_path / "var" / "models" / "tiny-hf" / "config.json").unlink()
    (converted / ".avatar-converted.json").unlink()
    data["models"]["tiny"]["files"].pop("config.json")
    manifest.write_text(json.dumps(data))
    failed = run_pull(tmp_path, endpoint, manifest)
    assert failed.returncode == 1 and "the conversion failed (exit 1)" in failed.stderr
    assert "no config.json in" in failed.stderr
    assert (converted / "model.bin").exists(), "the earlier conversion stays until a new one succeeds"


def test_the_manifest_keeps_convert_steps_and_checks_them(tmp_path: Path) -> None:
    from models.download import ModelSetupError
    from models.pull import DEFAULT_MANIFEST, Manifest

    breeze = Manifest.load(DEFAULT_MANIFEST).models["breeze-asr-25"]
    assert breeze.repo == "MediaTek-Research/Breeze-ASR-25" and breeze.convert is not None
    assert breeze.convert.command[0] == "ct2-transformers-converter" and breeze.convert.local_dir
    argv = breeze.convert.argv(Path("/m/Breeze-ASR-25"), Path("/m/out"))
    assert argv[argv.index("--model") + 1] == "/m/Breeze-ASR-25" and argv[argv.index("--output_dir") + 1] == "/m/out"
    assert argv[argv.index("--copy_files") + 1:] == ["tokenizer.json", "preprocessor_config.json"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"profiles": {}, "models": {"x": {"repo": "a/b", "convert": {"command": ["c"]}}}}))
    with pytest.raises(ModelSetupError, match="a convert step needs"):
        Manifest.load(bad)
