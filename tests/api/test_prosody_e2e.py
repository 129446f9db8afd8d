"""A spoken turn's prosody end to end: the real API, a real prosody worker (prefork), real
Redis, a real Socket.IO client, on both stacks (SQLite + local files, PostgreSQL + S3). The utterances are espeak-ng
Mandarin; the speech-input lane's part (store WAV, turn, transcription, enqueue) is done by
``tests.api.speech_turns`` in a subprocess with the system's environment, as that lane
would (it is built in parallel)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from avatar.audio import encode_wav
from tests.conftest import STACKS, make_system
from tests.system import REPO, EventClient, System
from tests.workers.prosody import speech as sp

pytestmark = pytest.mark.slow

SENTENCES = [
    "今天台北天氣晴朗，很適合出門走走。",
    "我下午想去公園散步，順便買一杯咖啡。",
    "這個週末我們一起去看電影，好不好？",
    "明天早上八點，我要搭高鐵去台中開會。",
]


@pytest.fixture(scope="module", params=STACKS)
def system(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    tmp = tmp_path_factory.mktemp(f"prosody-{request.param}")
    # No model is needed on this lane: an empty models folder.
    system = make_system(tmp, "prosody", tmp / "models", stack=request.param)
    try:
        system.start_api()
        system.start_worker("prosody", concurrency=1)  # one process: utterances in order
        system.wait_for_lanes("prosody")
        yield system
    finally:
        system.stop_all()


@pytest.fixture(scope="module")
def wavs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wavs")
    out: dict[str, Path] = {}
    for i, text in enumerate(SENTENCES):
        out[text] = folder / f"{i}.wav"
        out[text].write_bytes(encode_wav(sp.espeak_speech(text).samples, sp.RATE))
    noisy = sp.with_noise(sp.espeak_speech(SENTENCES[0]).samples, 10)
    out["noisy"] = folder / "noisy.wav"
    out["noisy"].write_bytes(encode_wav(noisy / (1.1 * abs(noisy).max()), sp.RATE))
    return out


def speak(system: System, session_id: str, utterances: list[dict[str, Any]]) -> list[dict[str, str]]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.api.speech_turns", session_id, json.dumps(utterances)],
        env=system.env, cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def test_spoken_turns_are_scored_stored_and_served(system: System, wavs: dict[str, Path]) -> None:
    session = system.new_session()
    sid = session["session_id"]

    async def scenario() -> tuple[EventClient, list[dict[str, str]], list[dict[str, str]]]:
        client = EventClient(system.base_url)
        await client.connect({"session_id": sid, "token": session["token"]})
        first = speak(system, sid, [
            {"wav": str(wavs[t]), "text": t} for t in SENTENCES[:3]
        ] + [{"wav": str(wavs["noisy"]), "text": SENTENCES[0]}])
        await client.wait_for(lambda: len(client.named("prosody_analysis")) >= 4, 120, "four analyses")
        # The fourth clean utterance: three scored ones came before, so it is speaker-relative.
        second = speak(system, sid, [
            {"wav": str(wavs[SENTENCES[3]]), "text": SENTENCES[3]},
            {"wav": str(wavs[SENTENCES[3]]), "text": "還沒分析", "enqueue": False},
        ])
        await client.wait_for(lambda: len(client.named("prosody_analysis")) >= 5, 120, "the fifth analysis")
        await client.disconnect()
        return client, first, second

    client, first, second = asyncio.run(scenario())
    events = {e["transcription_id"]: e for e in client.named("prosody_analysis")}
    assert not client.named("error"), client.named("error")
    clean = [u["transcription_id"] for u in first[:3]] + [second[0]["transcription_id"]]
    noisy_id = first[3]["transcription_id"]

    # --- the events ------------------------------------------------------------------
    for tid in clean:
        event = events[tid]
        assert event["status"] == "ok" and event["quality"]["ok"], event["quality"]
        assert set(event["scores"]) == {"confidence", "stability", "affability"}
        assert all(0 <= v <= 100 for v in event["scores"].values())
        assert set(event["explanation"]) == set(event["scores"])
        assert event["explanation"]["confidence"][0]["feature"]
        assert event["latency_ms"] > 0
    assert [events[t]["mode"] for t in clean] == ["norms", "norms", "norms", "speaker"]
    # Each score with its test-retest interval; from the third utterance on, the change
    # against the speaker's own earlier ones. The third's earlier two were scored against
    # the norms as it was, so its baseline is their median (two values: their mean).
    for tid in clean:
        interval = events[tid]["interval"]
        for name, value in events[tid]["scores"].items():
            assert interval[name]["low"] <= value <= interval[name]["high"]
            assert interval[name]["half_width"] > 0
    assert events[clean[0]]["relative"] is None and events[clean[1]]["relative"] is None
    third = events[clean[2]]["relative"]
    assert third["earlier_utterances"] == 2
    for name, change in third["scores"].items():
        earlier = [events[t]["scores"][name] for t in clean[:2]]
        assert change["baseline"] == pytest.approx(sum(earlier) / 2, abs=0.06)
        assert change["change"] == pytest.approx(events[clean[2]]["scores"][name] - change["baseline"], abs=0.11)
        assert change["exceeds_noise"] == (abs(change["change"]) > change["threshold"])
    assert events[clean[3]]["relative"]["earlier_utterances"] == 3  # the refused one is not a baseline
    refused = events[noisy_id]
    assert refused["status"] == "insufficient_quality" and refused["scores"] is None
    assert "low_snr" in refused["quality"]["reasons"] and refused["quality"]["message"]

    # --- one utterance over REST -----------------------------------------------------
    with httpx.Client(base_url=system.base_url, headers=system.auth, timeout=10) as http:
        for tid in clean:
            body = http.get(f"/api/v1/prosody/{tid}").json()
            assert body["status"] == "ok"
            assert body["scores"] == events[tid]["scores"]  # the stored row is what was sent
            assert body["explanation"] == events[tid]["explanation"]
            assert body["interval"] == events[tid]["interval"] and body["relative"] == events[tid]["relative"]
            assert len(body["features"]["egemaps"]) == 88
            assert body["features"]["praat"]["syllable_source"] == "transcript"
            assert body["norms_version"]
        body = http.get(f"/api/v1/prosody/{noisy_id}").json()
        assert body["status"] == "insufficient_quality" and body["scores"] is None
        assert body["quality"]["reasons"] == refused["quality"]["reasons"]

        # --- the session summary with its trend --------------------------------------
        summary = http.get(f"/api/v1/sessions/{sid}/prosody").json()
        assert summary["analyzed"] == 5 and summary["insufficient_quality"] == 1
        assert [t["turn_number"] for t in summary["turns"]] == [1, 2, 3, 4, 5]
        assert summary["turns"][3]["status"] == "insufficient_quality"
        assert summary["turns"][3]["reasons"] == refused["quality"]["reasons"]
        assert summary["turns"][3]["interval"] is None and summary["turns"][3]["relative"] is None
        assert summary["turns"][2]["relative"] == events[clean[2]]["relative"]
        for name in ("confidence", "stability", "affability"):
            trend = summary["trend"][name]
            values = [events[t]["scores"][name] for t in clean]
            assert trend["first"] == values[0] and trend["last"] == values[-1]
            assert trend["mean"] == pytest.approx(sum(values) / 4, abs=0.06)
            assert trend["direction"] in {"rising", "falling", "steady"}

        # --- clear 404s ------------------------------------------------------------------
        unknown = http.get(f"/api/v1/prosody/{uuid.uuid4()}")
        assert unknown.status_code == 404 and "not found" in unknown.json()["detail"]["message"]
        pending = http.get(f"/api/v1/prosody/{second[1]['transcription_id']}")
        assert pending.status_code == 404 and "no prosody analysis yet" in pending.json()["detail"]["message"]
        missing_session = http.get(f"/api/v1/sessions/{uuid.uuid4()}/prosody")
        assert missing_session.status_code == 404 and "not found" in missing_session.json()["detail"]["message"]
        assert http.get("/api/v1/prosody/not-a-uuid").status_code == 422


def test_a_missing_recording_is_reported_not_lost(system: System, wavs: dict[str, Path]) -> None:
    session = system.new_session()
    sid = session["session_id"]

    async def scenario() -> tuple[EventClient, dict[str, str]]:
        client = EventClient(system.base_url)
        await client.connect({"session_id": sid, "token": session["token"]})
        [ids] = speak(system, sid, [{"wav": str(wavs[SENTENCES[0]]), "text": SENTENCES[0], "store_audio": False}])
        await client.wait_for(lambda: client.named("prosody_analysis"), 60, "the analysis")
        await client.disconnect()
        return client, ids

    client, ids = asyncio.run(scenario())
    [event] = client.named("prosody_analysis")
    assert event["transcription_id"] == ids["transcription_id"]
    assert event["status"] == "insufficient_quality" and event["quality"]["reasons"] == ["missing_audio"]
    body = httpx.get(f"{system.base_url}/api/v1/prosody/{ids['transcription_id']}", headers=system.auth, timeout=10).json()
    assert body["status"] == "insufficient_quality" and body["quality"]["reasons"] == ["missing_audio"]
