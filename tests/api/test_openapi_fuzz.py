"""The REST API fuzzed against its own OpenAPI schema by schemathesis, over real HTTP, on a
real running system (API + llm + tts_fast workers, Redis, SQLite, local storage).

Budget: ``--max-examples`` per operation (FUZZ_EXAMPLES) over the examples, coverage and
fuzzing phases, one worker: about 550 requests in 20 s on a two-core machine. Checks: no 5xx, every
status code is one the route declares, content types, headers, and every body matches its
declared schema (RFC 3339 timestamps with their offset, errors as ``detail {code, message}``).
Before the fuzz its owner gets a real session with a finished turn and a voice profile, so
the list routes answer real rows; another owner's rows are validated route by route.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis

from tests.conftest import make_system
from tests.system import EventClient, System
from tests.voices import espeak_reference

pytestmark = pytest.mark.slow

FUZZ_EXAMPLES = int(os.environ.get("AVATAR_TEST_FUZZ_EXAMPLES", "20"))
CHECKS = ",".join([
    "not_a_server_error", "status_code_conformance", "content_type_conformance",
    "response_headers_conformance", "response_schema_conformance",
])


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[System]:
    system = make_system(
        tmp_path_factory.mktemp("api-fuzz"), "api_fuzz", tiny_models_dir,
        AVATAR_LLM_ENGINE="benchmark", AVATAR_TTS_FAST_ENGINE="espeak",
    )
    try:
        system.start_api()
        system.start_worker("llm")
        system.start_worker("tts_fast")
        system.wait_for_lanes("llm", "tts_fast")
        yield system
    finally:
        system.stop_all()


def _seed(system: System, auth: dict[str, str], folder: Path) -> dict[str, str]:
    """For the owner ``auth``: a session with one finished turn, and a voice profile (left
    ``processing``: no prosody worker here), so that real rows go through the models."""
    session = system.new_session(auth)

    async def one_turn() -> str:
        client = EventClient(system.base_url)
        await client.connect({"session_id": session["session_id"], "token": session["token"]})
        ack = await client.sio.call("user_message", {"text": "你好"}, timeout=15)
        assert ack["ok"], ack
        await client.wait_for(lambda: client.named("turn_audio_complete"), 120, "the turn's audio")
        await client.disconnect()
        return ack["turn_id"]

    turn_id = asyncio.run(one_turn())
    reference = espeak_reference(folder / "ref.wav", variant="f3", pitch=70)
    upload = httpx.post(f"{system.base_url}/api/v1/voice-profiles", files={"file": ("ref.wav", reference.read_bytes())},
                        data={"name": "fuzz"}, headers=auth, timeout=60)
    assert upload.status_code == 201, upload.text
    return {"session_id": session["session_id"], "turn_id": turn_id, "profile_id": upload.json()["profile_id"]}


def _tracebacks(system: System) -> int:
    return system.log("api").count("Traceback")


def test_schemathesis_finds_no_server_error_and_no_schema_violation(system: System, tmp_path: Path) -> None:
    _seed(system, system.auth, tmp_path)  # the fuzz plays this owner: it may change or delete these
    before = _tracebacks(system)
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "--no-color", "run", f"{system.base_url}/openapi.json",
         "--checks", CHECKS, "--max-examples", str(FUZZ_EXAMPLES), "--phases", "examples,coverage,fuzzing",
         "--workers", "1", "--request-timeout", "30", "--seed", os.environ.get("AVATAR_TEST_FUZZ_SEED", "1"),
         "--suppress-health-check", "all",
         # As the owner of the seeded rows: the fuzz reaches past the 401 into every route.
         "--header", f"Authorization: {system.auth['Authorization']}"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-12000:]
    generated = re.search(r"(\d+) generated", output)
    assert generated and int(generated.group(1)) >= 100, output[-4000:]  # it did fuzz
    assert _tracebacks(system) == before, system.log("api")[-6000:]


def test_real_rows_and_errors_match_the_schema(system: System, tmp_path: Path) -> None:
    auth = system.new_owner()  # rows of its own, out of the fuzz's reach whichever runs first
    seeded = _seed(system, auth, tmp_path)
    schema = schemathesis.openapi.from_url(f"{system.base_url}/openapi.json")
    base = system.base_url
    sid, pid = seeded["session_id"], seeded["profile_id"]
    cases = {
        ("/api/v1/sessions/{session_id}", "GET"): f"/api/v1/sessions/{sid}",
        ("/api/v1/sessions/{session_id}/turns", "GET"): f"/api/v1/sessions/{sid}/turns",
        ("/api/v1/voice-profiles/{profile_id}", "GET"): f"/api/v1/voice-profiles/{pid}",
        ("/api/v1/voice-profiles", "GET"): "/api/v1/voice-profiles",
        ("/api/v1/sessions", "GET"): "/api/v1/sessions",
    }
    bodies: dict[str, Any] = {}
    for (path, method), url in cases.items():
        response = httpx.request(method, f"{base}{url}", headers=auth, timeout=10)
        assert response.status_code == 200, (url, response.text)
        schema[path][method].validate_response(response)
        bodies[path] = response.json()
    (turn,) = bodies["/api/v1/sessions/{session_id}/turns"]
    assert turn["turn_id"] == seeded["turn_id"] and turn["status"] == "completed"
    stamps = [bodies["/api/v1/sessions/{session_id}"]["start_time"], turn["created_at"], turn["completed_at"],
              bodies["/api/v1/voice-profiles/{profile_id}"]["created_at"]]
    for stamp in stamps:  # SQLite keeps them naive: the API must still say UTC
        assert datetime.fromisoformat(stamp).utcoffset() is not None, stamp

    # Errors: a validation error and a not-found, both as detail {code, message}.
    invalid = httpx.get(f"{base}/api/v1/sessions", params={"limit": 0}, headers=auth, timeout=10)
    assert invalid.status_code == 422
    schema["/api/v1/sessions"]["GET"].validate_response(invalid)
    detail = invalid.json()["detail"]
    assert detail["code"] == "VALIDATION_ERROR" and detail["message"]
    assert [e["loc"] for e in detail["errors"]] == [["query", "limit"]]
    missing = httpx.get(f"{base}/api/v1/sessions/00000000-0000-0000-0000-000000000000", headers=auth, timeout=10)
    assert missing.status_code == 404
    schema["/api/v1/sessions/{session_id}"]["GET"].validate_response(missing)
    assert missing.json()["detail"]["code"] and "not found" in missing.json()["detail"]["message"]
    # FastAPI's own 404 for a path that does not exist says it the same way.
    nowhere = httpx.get(f"{base}/api/v1/nowhere", timeout=10)
    assert nowhere.status_code == 404 and nowhere.json()["detail"] == {"code": "NOT_FOUND", "message": "Not Found"}
