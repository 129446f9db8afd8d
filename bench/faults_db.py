"""After the run, the database's view of every turn: what each client counted is checked
against what was stored, and stored duplicates are looked for. The database is the
benchmark's own (its own PostgreSQL server), so every row in it is this run's."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from avatar.db.engine import make_engine
from bench.faults_client import HUNG, LOST

DUPLICATE_QUERIES = {
    # The schema forbids most of these (unique constraints); they are counted all the same,
    # so that a constraint dropped one day shows up here.
    "audio rows (turn, mode, seq) stored twice":
        "SELECT turn_id, count(*) - 1 FROM synthesized_audios GROUP BY turn_id, mode, seq HAVING count(*) > 1",
    "turns with one user text stored twice in a session":
        "SELECT min(turn_id::text), count(*) - 1 FROM conversation_turns "
        "GROUP BY session_id, user_input HAVING count(*) > 1 AND min(user_input) LIKE 'faults %'",
    "transcriptions per turn beyond one":
        "SELECT turn_id, count(*) - 1 FROM transcriptions GROUP BY turn_id HAVING count(*) > 1",
    "prosody rows per transcription beyond one":
        "SELECT transcription_id, count(*) - 1 FROM prosody_scores GROUP BY transcription_id HAVING count(*) > 1",
}


def cross_check(database_url: str, result: Any) -> None:
    """Fill ``result.db`` and each record's ``db_status``; a hung turn the database never
    stored is lost."""
    engine = make_engine(database_url)
    try:
        with engine.connect() as db:
            rows = db.execute(text(
                "SELECT turn_id::text, status, error_code, (latency->>'chunks')::int, "
                "(SELECT count(*) FROM synthesized_audios a WHERE a.turn_id = t.turn_id AND a.mode = 'fast'), "
                "(SELECT count(*) FROM synthesized_audios a WHERE a.turn_id = t.turn_id AND a.mode = 'hq') "
                "FROM conversation_turns t")).all()
            stored = {r[0]: r for r in rows}
            duplicates: dict[str, int] = {}
            per_turn: dict[str, int] = {}
            for label, query in DUPLICATE_QUERIES.items():
                found = db.execute(text(query)).all()
                duplicates[label] = sum(int(n) for _, n in found)
                for key, n in found:
                    per_turn[str(key)] = per_turn.get(str(key), 0) + int(n)
            transcriptions = db.execute(text("SELECT count(*) FROM transcriptions")).scalar_one()
            prosody = db.execute(text("SELECT count(*) FROM prosody_scores")).scalar_one()
    finally:
        engine.dispose()
    known = set()
    disagree = []
    for record in result.records:
        if not record.turn_id:
            continue
        known.add(record.turn_id)
        row = stored.get(record.turn_id)
        record.db_status = row[1] if row else None
        record.duplicates += per_turn.get(record.turn_id, 0)
        if row is None and record.outcome == HUNG:
            record.outcome, record.reason = LOST, f"{record.reason}; not in the database"
        elif row is None and record.outcome != LOST:
            disagree.append((record.turn_id, record.outcome, "not stored"))
        elif row is not None and record.outcome == "completed" and row[1] != "completed":
            disagree.append((record.turn_id, record.outcome, row[1]))
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row[1]] = statuses.get(row[1], 0) + 1
    result.db.update({
        "turns": len(rows), "statuses": statuses, "duplicates": duplicates,
        "unknown_to_clients": sorted((r[0], r[1]) for r in rows if r[0] not in known),
        "disagree": disagree, "transcriptions": int(transcriptions), "prosody": int(prosody),
        "hq_turns": sum(1 for r in rows if r[5]),
        "completed_with_chunks": sum(1 for r in rows if r[1] == "completed" and (r[3] or 0) > 0),
    })
