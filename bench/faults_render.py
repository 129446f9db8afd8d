"""The fault benchmark's section of ``docs/benchmarks.md``: which fault each turn met, the
fault table, the soak's memory verdicts, and the markdown."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from bench.faults_client import COMPLETED, ERROR, HUNG, LOST, OUTCOMES, TurnRecord

SECTION_START, SECTION_END = "<!-- bench:faults:start -->", "<!-- bench:faults:end -->"
# A fault before a turn was sent still meets it while the system recovers.
LEAD_S = 5.0
# A turn that met several faults is counted under the first of these it met (the big faults
# first, then the lanes on a turn's own path).
PRIORITY = ["api", "redis", "postgres", "child:llm", "child:tts_fast", "child:asr", "child:tts_hq",
            "child:prosody", "child:batch"]
NAMES = {"api": "SIGKILL of the API process", "redis": "Redis server restart",
         "postgres": "PostgreSQL server restart (`pg_ctl restart -m fast`)", "none": "no fault during the turn"}
FLAT_PCT = 5.0


def fault_key(fault: Any) -> str:
    return f"child:{fault.lane}" if fault.kind == "child" else fault.kind


def fault_name(key: str) -> str:
    return NAMES.get(key) or f"SIGKILL of a `{key.split(':', 1)[1]}` pool child"


def attribute(record: TurnRecord, faults: Sequence[Any]) -> str:
    met = {fault_key(f) for f in faults if record.sent_at - LEAD_S <= f.at <= record.ended_at}
    return next((key for key in PRIORITY if key in met), "none")


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def fault_table(records: Sequence[TurnRecord], faults: Sequence[Any]) -> list[list[object]]:
    keys = [k for k in PRIORITY if any(fault_key(f) == k for f in faults)] + ["none"]
    rows = []
    for key in keys:
        mine = [r for r in records if attribute(r, faults) == key]
        injected = sum(1 for f in faults if fault_key(f) == key) if key != "none" else "—"
        counts = [sum(1 for r in mine if r.outcome == o) for o in OUTCOMES]
        rows.append([fault_name(key), injected, len(mine), *counts,
                     sum(1 for r in mine if r.outcome == COMPLETED and r.via_resume),
                     sum(r.duplicates for r in mine)])
    total = [sum(1 for r in records if r.outcome == o) for o in OUTCOMES]
    rows.append(["**all turns of the fault phase**", len(faults), len(records), *total,
                 sum(1 for r in records if r.outcome == COMPLETED and r.via_resume),
                 sum(r.duplicates for r in records)])
    return rows


def _median_change(a: Sequence[Any], b: Sequence[Any], index: int) -> float | None:
    xs, ys = [s[index] for s in a if s[index] is not None], [s[index] for s in b if s[index] is not None]
    if not xs or not ys or not statistics.median(xs):
        return None
    return (statistics.median(ys) - statistics.median(xs)) / statistics.median(xs) * 100


def soak_verdicts(samples: dict[tuple[str, int], list[tuple[Any, ...]]], started: float,
                  ended: float, warmup_s: float, window_s: float) -> list[dict[str, Any]]:
    """Per process: median RSS of the first window after warm-up vs. of the last window."""
    first = (started + warmup_s, started + warmup_s + window_s)
    last = (ended - window_s, ended)
    out = []
    for (label, pid), series in sorted(samples.items()):
        series = [s for s in series if started <= s[0] <= ended + 1]
        if not series:
            continue
        a = [s for s in series if first[0] <= s[0] <= first[1]]
        b = [s for s in series if last[0] <= s[0] <= last[1]]
        row: dict[str, Any] = {"label": label, "pid": pid, "samples": len(series)}
        if not a or not b:
            lived = (series[0][0] - started) / 60, (series[-1][0] - started) / 60
            row.update(verdict=f"n/a: lived only from minute {lived[0]:.1f} to {lived[1]:.1f} of the soak")
            out.append(row)
            continue
        rss_a, rss_b = statistics.median(s[1] for s in a), statistics.median(s[1] for s in b)
        change = (rss_b - rss_a) / rss_a * 100 if rss_a else 0.0
        pss_b = [s[2] for s in b if s[2] is not None]
        flat = abs(change) <= FLAT_PCT
        row.update(start_mb=rss_a / 1024, end_mb=rss_b / 1024, change=change,
                   pss_change=_median_change(a, b, 2),
                   anon_change=_median_change(a, b, 3) if len(series[0]) > 3 else None,
                   pss_end_mb=(statistics.median(pss_b) / 1024) if pss_b else None,
                   verdict="PASS (flat)" if flat else f"FAIL ({'grew' if change > 0 else 'fell'} {abs(change):.1f} %)")
        out.append(row)
    return out


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f} %"


def render_section(result: Any) -> str:
    cfg = result.config
    fault_records = [r for r in result.records if r.phase == "faults"]
    soak_records = [r for r in result.records if r.phase == "soak"]
    kills = [f for f in result.faults if f.kind == "child"]
    failed_kills = [f for f in kills if not f.ok]
    lines = [
        SECTION_START,
        "## Faults under load, and a memory soak",
        "",
        "> **Measured here**, on the `tiny` profile (tiny random models: a random Qwen2 LLM on "
        "transformers, a random Whisper on faster-whisper, espeak-ng for both TTS tiers): the "
        "figures count what the orchestration does with faults, nothing about model quality or speed.",
        "",
        f"Generated by `{result.command}`" + (f" (the whole run took {result.wall_s / 60:.1f} min)." if result.wall_s else "."),
        "",
        "### Machine",
        "",
        _row(["Item", "Value"]), _row(["---", "---"]),
        *(_row([k, v]) for k, v in result.machine.items()),
        "",
        "Everything runs on this one machine: the clients, the API, every lane's worker, Flower, "
        "Redis and PostgreSQL. Other work on the machine during the run shows in the load average.",
        "",
        "### The system and the load",
        "",
        f"- `avatar up` (the API, one worker per lane, Flower, all under supervisord) in a temporary data "
        f"directory, `AVATAR_PROFILE=tiny`, each lane at the profile's pool size; local storage.",
        f"- Its own Redis {result.stack_info.get('redis', '')} on port {result.stack_info.get('redis_port', '')}, "
        "with the deployed persistence (`docker/docker-compose.yml`: `--appendonly yes` and the default RDB "
        "save points; `scripts/services.sh`'s developer Redis keeps nothing). Its own PostgreSQL "
        f"({result.stack_info.get('postgres', '')}, a fresh `initdb` cluster) on port "
        f"{result.stack_info.get('pg_port', '')}.",
        f"- {cfg.sessions} sessions of one owner, closed loop: each sends its next message as soon as the "
        f"previous turn ended (whatever its outcome). TTS mode `both` (the fast tier speaks every sentence, the "
        f"HQ lane renders the whole turn). Every {cfg.spoken_every}th turn of a session is spoken: espeak-ng "
        "Mandarin streamed as real-time 40 ms microphone frames (Silero VAD in the API, the `asr` lane, "
        f"prosody on the `prosody` lane). Every {cfg.batch_every_s:g} s a batch re-synthesis of one session "
        "in HQ (the `batch` lane). Turn timeout "
        f"{cfg.turn_timeout_s:g} s.",
        f"- Fault phase: {cfg.fault_minutes:g} min. {cfg.kills} SIGKILLs of pool children at random moments "
        "(seeded), round-robin over the lanes "
        f"({', '.join(sorted({f.lane for f in kills}))}), each a random child of that lane's worker "
        "(its main process stays: Celery replaces the child; the job in hand is redelivered, "
        "`task_reject_on_worker_lost`); at a quarter, half and three quarters of the phase a SIGKILL of "
        f"the API process (supervisord restarts it), a Redis restart (SIGTERM, {cfg.redis_down_s:g} s down, "
        "started again on the same port) and `pg_ctl restart -m fast`, each at least 15 s from any child kill.",
        "",
        "### How a turn is counted",
        "",
        "Each turn the clients sent is exactly one of: **completed** (`turn_audio_complete` with no failed "
        "sentence and an `audio_chunk` for every sentence of its current generation; or, after the socket "
        "dropped, `resume` reports it `completed` with a fast rendering of every sentence, as the page "
        "fetches after a reconnect: the *via resume* column); **clear error** (an `error` event for the "
        "turn, failed sentences, a refusal in the ack such as `BUSY` or `QUEUE_UNAVAILABLE`, "
        "`transcription_rejected`, a turn stored as error, or a message the client saw fail: the socket "
        "dropped before the ack and no such turn was stored); **hung** (nothing terminal within the turn "
        "timeout); **lost** (accepted, then not completed with all audio and no error: a sentence's audio "
        "never arrived, or the database has no such turn). **Duplicates**: an `audio_chunk` delivered twice "
        "for one sentence of one generation, plus duplicate rows in the database (audio per turn, mode and "
        "seq; one user text twice in a session; transcriptions per turn; prosody per transcription). "
        f"A turn is counted under the fault it met (injected between {LEAD_S:g} s before it was sent and "
        "its end); one that met several, under the API, Redis, PostgreSQL, then the lanes on its path "
        "(llm, tts_fast, asr, tts_hq, prosody, batch).",
        "",
        "### Faults (measured here)",
        "",
        _row(["Fault", "Injected", "Turns", "Completed", "Clear error", "Hung", "Lost", "of completed: via resume",
              "Duplicates"]),
        _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---:"]),
        *(_row(r) for r in fault_table(fault_records, result.faults)),
        "",
    ]
    victims: dict[str, int] = {}
    for f in kills:
        name = f.detail.rsplit("(", 1)[-1].rstrip(")") if f.ok and "(" in f.detail else "none"
        victims[name] = victims.get(name, 0) + 1
    if kills:
        lines += ["Processes killed (each a direct child of its lane worker's main process): "
                  + ", ".join(f"`{k}` {v}" for k, v in sorted(victims.items())) + ".", ""]
    if failed_kills:
        lines += [f"{len(failed_kills)} planned child kill(s) found no pool child to kill "
                  f"({', '.join(sorted({f.lane for f in failed_kills}))}).", ""]
    big = [f for f in result.faults if f.kind != "child"]
    if big:
        lines += ["The big faults: " + "; ".join(
            f"{fault_name(f.kind)}: {f.detail}, healthy again: {'yes' if f.ok else 'NO'}" for f in big) + ".", ""]
    lines += _outcome_details(result, fault_records, soak_records)
    lines += _soak(result, soak_records)
    lines += ["", SECTION_END]
    return "\n".join(lines) + "\n"


def _outcome_details(result: Any, fault_records: list[TurnRecord], soak_records: list[TurnRecord]) -> list[str]:
    db = result.db
    records = fault_records + soak_records
    kinds = {k: sum(1 for r in records if r.kind == k) for k in ("typed", "spoken")}
    bad = [r for r in records if r.outcome in (ERROR, HUNG, LOST)]
    reasons: dict[tuple[str, str], int] = {}
    for r in bad:
        key = (r.outcome, f"{r.kind}: {r.reason}" + (f" (database: {r.db_status})" if r.turn_id else ""))
        reasons[key] = reasons.get(key, 0) + 1
    jobs = result.batch_jobs
    job_states: dict[str, int] = {}
    for job in jobs:
        job_states[str(job.get("status"))] = job_states.get(str(job.get("status")), 0) + 1
    lines = [
        "### What the turns and the database say",
        "",
        f"- Turns sent: {len(records)} ({kinds['typed']} typed, {kinds['spoken']} spoken); "
        f"redelivered replies seen (`turn_restarted`): {sum(r.restarts for r in records)}; "
        f"reconnects: {sum(r.reconnects for r in records)}.",
        f"- The database after the run: {db.get('turns', 0)} turns ({', '.join(f'{k} {v}' for k, v in sorted(db.get('statuses', {}).items()))}); "
        f"{db.get('transcriptions', 0)} transcriptions, {db.get('prosody', 0)} prosody rows "
        f"(`prosody_analysis` events received: {result.prosody_events}); "
        f"HQ renderings stored for {db.get('hq_turns', 0)} of {db.get('completed_with_chunks', 0)} completed turns "
        f"(`hq_audio_ready` received: {result.hq_ready}); error notices of the side lanes, which end no "
        "turn: " + (", ".join(f"{k} {v}" for k, v in sorted(getattr(result, "side_errors", {}).items())) or "none") + ".",
        "- Duplicate rows: " + ", ".join(f"{k}: {v}" for k, v in db.get("duplicates", {}).items()) + ".",
        f"- Stored turns no client learned of (a lost ack or `transcription_final`): "
        f"{len(db.get('unknown_to_clients', []))}"
        + (f" ({', '.join(f'{s}' for _, s in db['unknown_to_clients'][:10])})" if db.get("unknown_to_clients") else "")
        + f"; client counts the database contradicts: {len(db.get('disagree', []))}"
        + (f" ({'; '.join(f'{o} vs {s}' for _, o, s in db['disagree'][:5])})" if db.get("disagree") else "") + ".",
        f"- Batch re-synthesis jobs: {len(jobs)} started"
        + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(job_states.items()))})" if jobs else "") + ".",
    ]
    if reasons:
        lines += ["", "Every turn that did not complete, by reason:", "",
                  _row(["Outcome", "Reason", "Turns"]), _row(["---", "---", "---:"])]
        lines += [_row([o, reason, n]) for (o, reason), n in sorted(reasons.items())]
    exits = getattr(result, "program_exits", [])
    if exits:
        lines += ["", "supervisord saw these programs exit (each was started again); the API kill is "
                  "the injected one, the others are consequences:", ""]
        lines += [f"- `{line}`" for line in exits]
    if result.leftovers:
        lines += ["", f"**Processes still alive after the benchmark stopped: {result.leftovers}.**"]
    else:
        lines += ["", "After the run no process it started was left (checked in /proc)."]
    return lines + [""]


def _soak(result: Any, soak_records: list[TurnRecord]) -> list[str]:
    cfg = result.config
    if not result.soak_started:
        return ["### Soak", "", "Not run (`--skip-soak`)."]
    warmup, window = cfg.windows()
    rows = soak_verdicts(result.samples, result.soak_started, result.soak_ended, warmup, window)
    judged = [r for r in rows if "change" in r]
    failing = [r for r in judged if r["verdict"].startswith("FAIL")]
    counts = {o: sum(1 for r in soak_records if r.outcome == o) for o in OUTCOMES}
    info = result.redis_info
    lines = [
        f"### Soak: {cfg.soak_minutes:g} min at {cfg.sessions} sessions, no faults (measured here)",
        "",
        f"The same load, no faults. Every {cfg.sample_every_s:g} s the RSS (`/proc/PID/status` VmRSS), its "
        "anonymous part (RssAnon: the process's own heap; RSS also counts the shared memory a process has "
        "touched, such as PostgreSQL's shared buffers) and the PSS (`/proc/PID/smaps_rollup`) of every "
        "process: each supervisord program, its pool children and what they run, "
        "redis-server, the postmaster and its children. Warm-up, fixed before the run: the first "
        f"{warmup / 60:g} min. *Start* is the median RSS of the {window / 60:g} min after the warm-up, "
        f"*end* the median of the last {window / 60:g} min; a process is flat when its RSS differs by at most "
        f"{FLAT_PCT:g} %. Turns in the soak: {len(soak_records)} "
        f"({', '.join(f'{k} {v}' for k, v in counts.items())}).",
        "",
        f"**Verdict: {len(judged) - len(failing)} of {len(judged)} processes flat"
        + ("; failing: " + ", ".join(f"{r['label']} (pid {r['pid']})" for r in failing) if failing else "")
        + ".**",
        "",
        _row(["Process", "pid", "Start RSS (MiB)", "End RSS (MiB)", "Change", "PSS change", "RssAnon change",
              "End PSS (MiB)", "Verdict"]),
        _row(["---", "---:", "---:", "---:", "---:", "---:", "---:", "---:", "---"]),
    ]
    for r in rows:
        if "change" in r:
            lines.append(_row([r["label"], r["pid"], f"{r['start_mb']:.1f}", f"{r['end_mb']:.1f}", _pct(r["change"]),
                               _pct(r["pss_change"]), _pct(r["anon_change"]), "n/a" if r["pss_end_mb"] is None else f"{r['pss_end_mb']:.1f}",
                               r["verdict"]]))
        else:
            lines.append(_row([r["label"], r["pid"], "", "", "", "", "", "", r["verdict"]]))
    if info:
        lines += ["", "Redis at the start / end of the soak: " + "; ".join(
            f"{when}: {v.get('keys')} keys, used_memory {v.get('used_memory')}" for when, v in info.items()) + "."]
    return lines
