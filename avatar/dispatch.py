"""The dispatcher: how the API and the stages put work on a lane without knowing Celery.

:class:`Dispatcher` is the seam (one method per job kind); :class:`CeleryDispatcher` is the
one implementation: it sends by task name (``app.send_task``), with the lane and priority
the job's :class:`avatar.jobs.Route` gives, so nothing here imports ``tasks/``. Every send
returns the task id (a barge-in revokes a turn's queued speech by id); the API also asks
through it which workers serve each lane.
"""

from __future__ import annotations

from typing import Protocol

from celery import Celery

from avatar.jobs import (
    HQTurnJob,
    Job,
    PreviewJob,
    ProsodyJob,
    ReferenceTranscriptJob,
    ReplyJob,
    ResynthesisJob,
    SpeechJob,
    TranscriptionJob,
    VoiceAnalysisJob,
)


class Dispatcher(Protocol):
    def reply(self, job: ReplyJob) -> str: ...
    def speech(self, job: SpeechJob) -> str: ...
    def hq_turn(self, job: HQTurnJob) -> str: ...
    def preview(self, job: PreviewJob) -> str: ...
    def transcription(self, job: TranscriptionJob) -> str: ...
    def reference_transcript(self, job: ReferenceTranscriptJob) -> str: ...
    def prosody(self, job: ProsodyJob) -> str: ...
    def voice_analysis(self, job: VoiceAnalysisJob) -> str: ...
    def resynthesis(self, job: ResynthesisJob) -> str: ...
    def revoke(self, task_ids: list[str]) -> None: ...
    def active_queues(self, timeout: float) -> dict[str, list[dict]]: ...


class CeleryDispatcher:
    """Sends jobs through a Celery app that needs no task module (a producer)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def _send(self, job: Job) -> str:
        route = job.route()
        result = self.app.send_task(
            route.task, args=[job.model_dump(mode="json")], queue=route.lane.value,
            priority=route.priority, expires=route.expires_s,
        )
        return str(result.id)

    def reply(self, job: ReplyJob) -> str:
        return self._send(job)

    def speech(self, job: SpeechJob) -> str:
        return self._send(job)

    def hq_turn(self, job: HQTurnJob) -> str:
        return self._send(job)

    def preview(self, job: PreviewJob) -> str:
        return self._send(job)

    def transcription(self, job: TranscriptionJob) -> str:
        return self._send(job)

    def reference_transcript(self, job: ReferenceTranscriptJob) -> str:
        return self._send(job)

    def prosody(self, job: ProsodyJob) -> str:
        return self._send(job)

    def voice_analysis(self, job: VoiceAnalysisJob) -> str:
        return self._send(job)

    def resynthesis(self, job: ResynthesisJob) -> str:
        return self._send(job)

    def revoke(self, task_ids: list[str]) -> None:
        if task_ids:
            self.app.control.revoke(task_ids)

    def active_queues(self, timeout: float) -> dict[str, list[dict]]:
        """The queues each live worker consumes (a broadcast that waits ``timeout`` seconds)."""
        return self.app.control.inspect(timeout=timeout).active_queues() or {}
