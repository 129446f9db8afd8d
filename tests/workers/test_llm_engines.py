"""The two LLM engines against real models, offline.

- ``TransformersLLM`` runs the tiny random Qwen2 chat model in-process.
- ``OpenAICompatLLM`` talks HTTP/SSE to a real OpenAI-compatible server: ``transformers
  serve`` (Hugging Face transformers' own FastAPI/uvicorn server, the ``transformers[serving]``
  extra), started as a subprocess on a free loopback port and streaming from the same tiny
  model. ``transformers serve`` resolves models by Hub id and lists in ``GET /v1/models`` only
  what the Hub cache holds, so the tiny model is placed in a private Hub cache
  (``HF_HUB_CACHE``) as ``avatar-test/tiny-llm`` and the server runs with ``HF_HUB_OFFLINE=1``
  pinned to it - exactly how it would serve a downloaded Qwen on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from avatar.model_files import RandomWeights, write_random_weights
from avatar.settings import Settings
from models.download import (
    CHECKSUM_FILE,
    ModelSetupError,
    llm_download_target,
    verify_checksums,
    write_checksums,
)
from models.tiny import make_tiny_llm
from workers.engines.base import EngineUnavailable, TransientEngineError
from workers.engines.llm.base import ChatMessage
from workers.engines.llm.openai_compat import OpenAICompatLLM
from workers.engines.llm.transformers_local import TransformersLLM

TINY_REPO = "avatar-test/tiny-llm"
CHAT: list[ChatMessage] = [
    {"role": "system", "content": "你是 AVATAR，一位說台灣華語的語音助理。"},
    {"role": "user", "content": "請問明天台北會下雨嗎？出門要帶傘嗎？"},
]


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- in-process transformers ----------------------------------------------------------------


def test_transformers_streams_deltas_for_chinese_chat(tiny_llm_dir: Path) -> None:
    import torch

    # Sampling (greedy decoding of a random model just repeats one token), seeded: the
    # generation thread draws from torch's global generator.
    engine = TransformersLLM(settings=_settings(profile="tiny", llm_model=str(tiny_llm_dir), llm_temperature=0.7))
    assert engine.availability().ok
    torch.manual_seed(0)

    deltas = list(engine.stream(CHAT, max_tokens=32))

    assert len(deltas) >= 3, deltas
    assert all(isinstance(d, str) and d for d in deltas)
    text = "".join(deltas)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text  # the zh-TW vocabulary at work
    assert "<|im_end|>" not in text and "<|im_start|>" not in text  # special tokens are skipped


def test_transformers_unavailable_without_weights(tmp_path: Path) -> None:
    missing = tmp_path / "nothing-here"
    tiny = TransformersLLM(settings=_settings(profile="tiny", llm_model=str(missing))).availability()
    cpu = TransformersLLM(settings=_settings(profile="cpu", llm_model=str(missing))).availability()

    assert not tiny.ok and tiny.reason.startswith(f"no weights at {missing}")
    assert tiny.fix == "avatar models tiny"
    assert not cpu.ok and cpu.fix == "avatar models download llm"
    with pytest.raises(EngineUnavailable):
        next(TransformersLLM(settings=_settings(llm_model=str(missing))).stream(CHAT))


def test_transformers_early_close_stops_generation(tiny_llm_dir: Path) -> None:
    engine = TransformersLLM(settings=_settings(profile="tiny", llm_model=str(tiny_llm_dir), llm_temperature=0))
    stream = engine.stream(CHAT, max_tokens=1500)

    assert next(stream)
    assert any(t.name == "llm-generate" for t in threading.enumerate())  # still generating
    started = time.monotonic()
    stream.close()

    assert time.monotonic() - started < 5
    assert not any(t.name == "llm-generate" for t in threading.enumerate())


# --- OpenAI-compatible server (transformers serve) -----------------------------------------


@dataclass
class ServeProcess:
    proc: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _hub_cache_with(model_dir: Path, cache: Path, repo_id: str) -> Path:
    """Lay ``model_dir`` out as a Hub cache entry (refs/main -> snapshot of symlinks)."""
    revision = "0" * 40
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for f in model_dir.iterdir():
        (snapshot / f.name).symlink_to(f.resolve())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    return cache


def start_transformers_serve(model_dir: Path, tmp: Path, timeout_s: float = 60) -> ServeProcess:
    """``transformers serve avatar-test/tiny-llm --host 127.0.0.1 --port N --device cpu --default-seed 0``."""
    cli = Path(sys.executable).parent / "transformers"
    if not cli.exists():
        # transformers[serving] is in the dev extra `make test` installs: missing is a failure.
        pytest.fail("the transformers CLI is missing: it comes with transformers[serving], in the dev "
                    "extra (make install, or pip install -e '.[dev]')")
    port = _free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_CACHE": str(_hub_cache_with(model_dir, tmp / "hub", TINY_REPO)),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    log = tmp / "transformers-serve.log"
    cmd = [str(cli), "serve", TINY_REPO, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    cmd += ["--default-seed", "0"]  # sampling from the random model: same text every run
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    server = ServeProcess(proc=proc, base_url=f"http://127.0.0.1:{port}/v1", log=log)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"transformers serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/models", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    server.stop()
    pytest.fail(f"transformers serve did not answer in {timeout_s}s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def serve(tiny_llm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    server = start_transformers_serve(tiny_llm_dir, tmp_path_factory.mktemp("serve"))
    yield server
    server.stop()


def _openai(base_url: str, model: str = TINY_REPO) -> OpenAICompatLLM:
    # Sampling, not greedy: greedy decoding of a random model loops on one token (here a
    # newline), which the server coalesces into a single delta.
    return OpenAICompatLLM(
        settings=_settings(
            profile="gpu", llm_model=model, llm_base_url=base_url, llm_temperature=0.8, llm_timeout_s=30
        )
    )


def test_openai_streams_from_transformers_serve(serve: ServeProcess) -> None:
    engine = _openai(serve.base_url)
    assert engine.availability().ok

    deltas = list(engine.stream(CHAT, max_tokens=24))

    assert len(deltas) >= 2, deltas
    assert all(deltas)
    assert "".join(deltas).strip()


def test_openai_model_not_served(serve: ServeProcess) -> None:
    engine = _openai(serve.base_url, model="Qwen/Qwen2.5-7B-Instruct-AWQ")

    check = engine.availability()
    assert not check.ok and "not served" in check.reason and "vllm serve" in check.fix
    # transformers serve is pinned to one model and answers 400: a plain error with its message.
    with pytest.raises(RuntimeError, match="pinned") as err:
        list(engine.stream(CHAT, max_tokens=4))
    assert not isinstance(err.value, (TransientEngineError, EngineUnavailable))


def test_openai_closed_port_is_unavailable_and_transient() -> None:
    engine = _openai(f"http://127.0.0.1:{_free_port()}/v1")

    check = engine.availability()
    assert not check.ok and "unreachable" in check.reason and "vllm serve" in check.fix
    with pytest.raises(TransientEngineError):
        list(engine.stream(CHAT))


def test_openai_server_gone_mid_stream_is_transient(tiny_llm_dir: Path, tmp_path: Path) -> None:
    server = start_transformers_serve(tiny_llm_dir, tmp_path)
    try:
        stream = _openai(server.base_url).stream(CHAT, max_tokens=1500)
        assert next(stream)
        server.proc.kill()
        server.proc.wait()
        with pytest.raises(TransientEngineError):
            for _ in stream:
                pass
    finally:
        server.stop()


# --- model setup ----------------------------------------------------------------------------


def test_checksums_detect_a_changed_file(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"weights")
    write_checksums(tmp_path, log=lambda _: None)
    assert (tmp_path / CHECKSUM_FILE).read_text().count("\n") == 2
    verify_checksums(tmp_path, log=lambda _: None)

    (tmp_path / "model.safetensors").write_bytes(b"tampered")
    with pytest.raises(ModelSetupError, match="model.safetensors"):
        verify_checksums(tmp_path, log=lambda _: None)


def test_tiny_llm_is_idempotent_and_deterministic(tiny_llm_dir: Path, tmp_path: Path) -> None:
    weights = tiny_llm_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert make_tiny_llm(tiny_llm_dir) == tiny_llm_dir
    assert weights.stat().st_mtime_ns == before  # complete already: not rewritten

    again = make_tiny_llm(tmp_path / "llm", seed=0)
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny_llm_dir / name).read_bytes(), name


def test_download_target_follows_settings(tmp_path: Path) -> None:
    local = _settings(profile="cpu", llm_model=str(tmp_path / "qwen2.5-1.5b-instruct"))
    hub = _settings(profile="cpu", llm_model="Qwen/Qwen2.5-3B-Instruct", models_dir=tmp_path)

    assert llm_download_target(local) == ("Qwen/Qwen2.5-1.5B-Instruct", tmp_path / "qwen2.5-1.5b-instruct")
    assert llm_download_target(hub) == ("Qwen/Qwen2.5-3B-Instruct", tmp_path / "qwen2.5-3b-instruct")
    with pytest.raises(ModelSetupError, match="avatar models tiny"):
        llm_download_target(_settings(profile="tiny", llm_model=str(tmp_path / "tiny" / "llm")))


def test_a_random_weights_model_decodes_its_fixed_length_and_emits_its_stand_in(
    tiny_llm_dir: Path, tmp_path: Path
) -> None:
    """A folder declaring random weights (``avatar models random`` writes the declaration)
    decodes exactly ``reply_tokens`` tokens, end-of-reply never sampled early, and the stream
    is the stand-in reply cut into one piece per token; the same model without the file
    streams its own noise."""
    declared = tmp_path / "random-llm"
    shutil.copytree(tiny_llm_dir, declared)
    reply = "好的，今天台北晴朗，氣溫大約二十五度。"
    write_random_weights(declared, RandomWeights(text=reply, reply_tokens=12))
    engine = TransformersLLM(settings=_settings(profile="tiny", llm_model=str(declared), llm_temperature=0.7))

    deltas = list(engine.stream(CHAT, max_tokens=32))

    assert len(deltas) == 12 and "".join(deltas) == reply
    capped = list(engine.stream(CHAT, max_tokens=5))  # a smaller limit still wins
    assert len(capped) == 5 and reply.startswith("".join(capped))
    plain = "".join(TransformersLLM(settings=_settings(
        profile="tiny", llm_model=str(tiny_llm_dir), llm_temperature=0.7)).stream(CHAT, max_tokens=12))
    assert plain != reply
