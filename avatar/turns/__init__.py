"""A turn's life, in one place: started from typed or spoken text (:mod:`.start`), its live
state and Redis keys (:mod:`.state`, :mod:`.keys`), settled, completed or failed
(:mod:`.closing`), and interrupted by the user speaking over it (:mod:`.interrupt`)."""

from avatar.turns.closing import (
    announce_audio_complete,
    complete_turn_if_settled,
    discard_attempt,
    fail_turn,
    queue_sentence,
    record_hq_render,
    save_reply,
    sentence_failed,
    settle_sentence,
    turn_state,
)
from avatar.turns.interrupt import Playback, interrupt_active_turn, spoken_text
from avatar.turns.start import (
    AcceptedTurn,
    QueueUnavailable,
    SpokenAt,
    accept_user_message,
    resume_turn,
    start_turn,
)
from avatar.turns.state import TurnState

__all__ = [
    "AcceptedTurn",
    "Playback",
    "QueueUnavailable",
    "SpokenAt",
    "TurnState",
    "accept_user_message",
    "announce_audio_complete",
    "complete_turn_if_settled",
    "discard_attempt",
    "fail_turn",
    "interrupt_active_turn",
    "queue_sentence",
    "record_hq_render",
    "resume_turn",
    "save_reply",
    "sentence_failed",
    "settle_sentence",
    "spoken_text",
    "start_turn",
    "turn_state",
]
