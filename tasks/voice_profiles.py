"""Voice profile jobs: the analysis of an upload (``prosody`` lane: resemblyzer, parselmouth
and the ``lite`` fit never load in the API process) and the reference transcript (``asr``
lane, where the ASR model already lives). Time limits and retries: ``avatar/queue.py``.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import Task

from avatar import jobs
from avatar.jobs import ReferenceTranscriptJob, VoiceAnalysisJob
from tasks.celery_app import app
from tasks.context import current
from tasks.guard import run_guarded
from workers.reference_transcript import transcribe_reference, transcript_failed
from workers.voice_profiles import analyze_voice as analyze, voice_analysis_failed


@app.task(name=jobs.VOICE_ANALYSIS.task, bind=True)
def analyze_voice(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = VoiceAnalysisJob.model_validate(payload)
    ctx = current()
    # An engine error or a crash ends the profile ``failed`` instead of ``processing`` forever.
    return run_guarded(
        self, partial(analyze, ctx, job), partial(voice_analysis_failed, ctx, job),
        what="聲音分析", backoff_cap_s=10,
    )


@app.task(name=jobs.REFERENCE_TRANSCRIPT.task, bind=True)
def reference_transcript(self: Task, payload: dict[str, Any]) -> dict[str, Any]:
    job = ReferenceTranscriptJob.model_validate(payload)
    ctx = current()
    return run_guarded(
        self, partial(transcribe_reference, ctx, job), partial(transcript_failed, ctx, job),
        what="參考錄音轉寫", backoff_cap_s=10,
    )
