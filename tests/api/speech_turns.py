"""What the speech-input lane does after an utterance ends, for the prosody tests (that lane
is built in parallel): store the 16 kHz WAV under ``raw_inputs/...``, accept the turn the
normal way, store the ``transcriptions`` row, queue one ProsodyJob through the dispatcher.

Run in a subprocess with the test system's environment (its Redis, database, storage):

    python -m tests.api.speech_turns SESSION_ID '[{"wav": PATH, "text": "...", "enqueue": true}]'

Prints one JSON object per utterance: turn_id, transcription_id, audio_key. The turn is
marked completed at once: no LLM worker runs in these tests, and the next utterance of the
session must not be refused as TURN_IN_PROGRESS.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from avatar.db import ConversationTurn, Transcription, session_scope
from avatar.domain import TurnStatus
from avatar.jobs import ProsodyJob
from avatar.services import Services
from avatar.settings import get_settings
from avatar.storage import get_storage, raw_input_key
from avatar.turns import accept_user_message


def store_utterance(
    session_id: str, wav: Path, text: str, enqueue: bool = True, store_audio: bool = True
) -> dict[str, str]:
    settings = get_settings()
    with session_scope() as db:
        accepted = accept_user_message(db, uuid.UUID(session_id), text, settings)
        key = raw_input_key(session_id, accepted.turn_id, datetime.now(UTC))
        if store_audio:  # False: the row points at a WAV that is not there
            get_storage(settings).put(key, wav.read_bytes(), content_type="audio/wav")
        transcription = Transcription(
            turn_id=accepted.turn_id, final_text=text, confidence=0.9, latency_ms=300.0, audio_url=key
        )
        db.add(transcription)
        db.get(ConversationTurn, accepted.turn_id).status = TurnStatus.COMPLETED  # type: ignore[union-attr]
        db.flush()
        ids = {
            "turn_id": str(accepted.turn_id), "transcription_id": str(transcription.transcription_id),
            "audio_key": key, "trace_id": str(accepted.trace_id),
        }
    if enqueue:
        Services.build(settings).dispatcher.prosody(ProsodyJob(
            session_id=session_id, turn_id=ids["turn_id"], transcription_id=ids["transcription_id"],
            trace_id=ids["trace_id"], audio_key=key, transcript=text, speech_ended_at=time.time(),
        ))
    return ids


if __name__ == "__main__":
    session, utterances = sys.argv[1], json.loads(sys.argv[2])
    for u in utterances:
        print(json.dumps(store_utterance(
            session, Path(u["wav"]), u["text"], u.get("enqueue", True), u.get("store_audio", True)
        )))
