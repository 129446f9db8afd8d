"""The prosody job in-process on a real SQLite database, local storage and Redis: the row
it writes, and a redelivered job updating that row instead of adding a second one."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from avatar.audio import encode_wav
from avatar.db import ConversationTurn, ProsodyScore, Session, Transcription, session_scope
from avatar.jobs import ProsodyJob
from avatar.services import Services
from avatar.settings import Settings
from avatar.storage import get_storage, raw_input_key
from tests.workers.prosody import speech as sp
from workers.context import StageContext
from workers.prosody.service import run_prosody

TEXT = "今天台北天氣晴朗，很適合出門走走。"


def _utterance(stage_settings: Settings, samples: object) -> ProsodyJob:
    with session_scope(stage_settings.resolved_database_url) as db:
        turn = ConversationTurn(session=Session(), turn_number=1, user_input=TEXT)
        key = raw_input_key("s", uuid.uuid4(), datetime.now(UTC))
        transcription = Transcription(turn=turn, final_text=TEXT, audio_url=key)
        db.add(transcription)
        db.flush()
        ids = (str(turn.session_id), str(turn.turn_id), str(transcription.transcription_id))
    if samples is not None:
        get_storage(stage_settings).put(key, encode_wav(samples, sp.RATE))  # type: ignore[arg-type]
    return ProsodyJob(
        session_id=ids[0], turn_id=ids[1], transcription_id=ids[2], trace_id=str(uuid.uuid4()),
        audio_key=key, transcript=TEXT, speech_ended_at=time.time(),
    )


def _run(job: ProsodyJob, stage_settings: Settings) -> dict:
    """The stage as a prosody worker runs it, wired to this test's settings."""
    return run_prosody(StageContext(Services.build(stage_settings)), job)


def _rows(stage_settings: Settings) -> list[ProsodyScore]:
    with session_scope(stage_settings.resolved_database_url) as db:
        return list(db.scalars(select(ProsodyScore)).all())


def test_a_redelivered_job_updates_its_row(stage_settings: Settings) -> None:
    job = _utterance(stage_settings, sp.espeak_speech(TEXT).samples)
    first = _run(job, stage_settings)
    assert first["status"] == "ok" and first["stored"]
    again = _run(job, stage_settings)
    assert again["scores"] == first["scores"]
    [row] = _rows(stage_settings)
    assert str(row.transcription_id) == job.transcription_id
    assert row.confidence == first["scores"]["confidence"]
    assert row.features["status"] == "ok" and len(row.features["egemaps"]) == 88
    assert row.features["praat"]["syllables"] == 15  # one per character


def test_an_unknown_transcription_is_reported_but_not_stored(stage_settings: Settings) -> None:
    job = _utterance(stage_settings, sp.espeak_speech(TEXT).samples)
    stray = job.model_copy(update={"transcription_id": str(uuid.uuid4())})
    result = _run(stray, stage_settings)
    assert result["status"] == "ok" and result["stored"] is False
    assert _rows(stage_settings) == []


def test_the_job_uses_the_gate_settings(stage_settings: Settings) -> None:
    strict = stage_settings.model_copy(update={"prosody_min_voiced_s": 60.0})
    result = _run(_utterance(strict, sp.espeak_speech(TEXT).samples), strict)
    assert result["status"] == "insufficient_quality" and result["scores"] is None
    [row] = _rows(strict)
    assert row.confidence is None and row.features["quality"]["reasons"] == ["too_little_voice"]


def test_the_learned_second_opinion_is_stored_beside_the_scores(stage_settings: Settings, tmp_path: Path) -> None:
    from models.tiny import make_tiny_emotion

    plain = _run(_utterance(stage_settings, sp.espeak_speech(TEXT).samples), stage_settings)
    learned = stage_settings.model_copy(update={
        "prosody_emotion_engine": "wav2vec2_msp_dim",
        "prosody_emotion_model": str(make_tiny_emotion(tmp_path / "tiny-emotion")),
    })
    result = _run(_utterance(learned, sp.espeak_speech(TEXT).samples), learned)
    assert result["scores"] == plain["scores"]  # the first utterance of each session: same norms
    rows = {row.features.get("learned") is not None: row for row in _rows(stage_settings)}
    assert rows[False].confidence == rows[True].confidence
    opinion = rows[True].features["learned"]
    assert set(opinion["values"]) == {"arousal", "dominance", "valence"}
    assert opinion["assumption"].startswith("assumption")
