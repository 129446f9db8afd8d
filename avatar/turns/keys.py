"""The Redis key layout of a turn's live state, in one place.

``avatar:turn:{turn_id}:{name}`` holds the turn's counters and flags (:class:`TurnState`);
``avatar:turn:{turn_id}:seq:{mode}:g{generation}:*`` holds the audio sequencer's chunks
waiting for their predecessors (``workers/audio_sequencer.py``). Everything expires after
:data:`TTL_S`.
"""

from __future__ import annotations

import uuid

TTL_S = 24 * 3600


def turn_prefix(turn_id: str | uuid.UUID) -> str:
    return f"avatar:turn:{turn_id}"


def turn_key(turn_id: str | uuid.UUID, name: str) -> str:
    return f"{turn_prefix(turn_id)}:{name}"


def sequencer_prefix(turn_id: str | uuid.UUID, mode: str, generation: int) -> str:
    return f"{turn_prefix(turn_id)}:seq:{mode}:g{generation}"
