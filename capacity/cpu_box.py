"""The ``cpu`` layout: AVATAR's cpu profile on this machine's 2 shared cores, simulated the way
``python -m bench.voice`` loads it, so its prediction can be checked against that benchmark.

- **The cores** (:class:`Cores`) are shared by every engine call running at once, each at the
  pace :mod:`capacity.cpu_sharing`'s rule gives it beside the others (processor sharing by
  threads, times the efficiency the contention benchmark measured). A call's work is its time
  alone (``CpuModel``).
- **The lanes** (:class:`Lane`) are the Celery workers with the profile's concurrency: ``asr``
  (finals at priority 0, partials at 4), ``llm``, ``tts_fast`` (first sentence first),
  ``prosody``; a job waits for a free process, then runs on the cores.
- **A session** streams the recording in real time: while it speaks the API tries a partial
  transcript every ``partial_interval`` (rounded up to whole frames; one in flight per session,
  a try while one is in flight sends nothing); ``vad_min_silence`` after
  its speech ends (plus a frame) the final goes to ``asr``, then the reply to ``llm``: the
  prompt holds every earlier exchange of the session (it grows turn by turn), the reply
  streams its fixed 40 tokens, and each sentence the chunker releases goes to ``tts_fast``.
  Closed loop: the session speaks again once its reply has played (the sentences' durations
  from the first one's arrival, or the last sentence's arrival if later).
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from avatar.domain import Priority
from capacity.cpu_derived import CpuModel
from capacity.event_loop import Sim

_EPS = 1e-9


class Cores:
    """The machine's cores with milestones: each running job advances at the pace the sharing
    rule gives it beside the others (``CpuModel.speeds``), and ``marks`` (work done, in seconds
    alone -> callback) fire as it passes them; the last mark is its end."""

    def __init__(self, sim: Sim, model: CpuModel) -> None:
        self.sim, self.model = sim, model
        self._jobs: list[dict] = []
        self._last = 0.0
        self._version = 0

    def run(self, kind: str, marks: list[tuple[float, Callable[[], None]]]) -> None:
        self._advance()
        self._jobs.append({"done": 0.0, "kind": kind, "marks": sorted(marks, key=lambda m: m[0])})
        self._settle()

    def _speeds(self) -> list[float]:
        return self.model.speeds([job["kind"] for job in self._jobs])

    def _advance(self) -> None:
        elapsed, self._last = self.sim.now - self._last, self.sim.now
        for job, speed in zip(self._jobs, self._speeds()):
            job["done"] += elapsed * speed

    def _settle(self) -> None:
        """Fire the marks reached, drop finished jobs, and wake up at the next mark."""
        fired: list[Callable[[], None]] = []
        for job in self._jobs:
            while job["marks"] and job["marks"][0][0] <= job["done"] + _EPS:
                fired.append(job["marks"].pop(0)[1])
        self._jobs = [job for job in self._jobs if job["marks"]]
        self._version += 1
        if self._jobs:
            wait = min((job["marks"][0][0] - job["done"]) / speed for job, speed in zip(self._jobs, self._speeds()))
            version = self._version
            self.sim.at(wait, lambda: self._wake(version))
        for fn in fired:
            fn()

    def _wake(self, version: int) -> None:
        if version == self._version:
            self._advance()
            self._settle()


class Lane:
    """A worker with ``slots`` processes taking jobs by priority (lower first), then arrival."""

    def __init__(self, sim: Sim, slots: int) -> None:
        self.sim, self.slots, self.busy = sim, slots, 0
        self._waiting: list[tuple[int, int, Callable[[Callable[[], None]], None]]] = []
        self._ids = itertools.count()

    def submit(self, priority: int, start: Callable[[Callable[[], None]], None]) -> None:
        """``start(release)`` runs when a process is free; it calls ``release()`` when done."""
        heapq.heappush(self._waiting, (priority, next(self._ids), start))
        self._next()

    def _next(self) -> None:
        while self.busy < self.slots and self._waiting:
            _, _, start = heapq.heappop(self._waiting)
            self.busy += 1
            start(self._release)

    def _release(self) -> None:
        self.busy -= 1
        self._next()


@dataclass
class Turn:
    """One turn's times (s) from the end of the user's speech."""

    vad: float = 0.0
    final: float = 0.0  # transcription_final
    first_token: float = 0.0
    first_audio: float = 0.0
    asr_wait: float = 0.0
    llm_wait: float = 0.0


@dataclass
class Level:
    sessions: int
    turns: list[Turn] = field(default_factory=list)
    wall_s: float = 0.0


Phase = tuple[float, str, list[tuple[float, Callable[[], None]]]]  # (work, kind, marks)


def run_level(model: CpuModel, sessions: int, turns_per_session: int, seed: int = 1) -> Level:
    """``sessions`` closed-loop sessions of ``turns_per_session`` turns each, on fresh histories."""
    x = model.x
    sim = Sim(seed)
    cores = Cores(sim, model)
    lanes = {name: Lane(sim, int(x[f"{name}_slots"])) for name in ("asr", "llm", "tts_fast", "prosody")}
    level = Level(sessions)
    pad, step = x["vad_speech_pad_s"], model.decode_s
    # The API tries a partial after the first frame that ends partial_interval or more after its
    # last try: a try every whole number of frames.
    period = math.ceil(x["partial_interval_s"] / x["frame_s"] - _EPS) * x["frame_s"]

    def spread(what: str) -> float:
        return sim.rng.lognormvariate(0.0, model.spread(what))

    def job(lane: str, priority: int, phases: Callable[[], list[Phase]], done: Callable[[], None] | None = None,
            waited: Callable[[float], None] | None = None) -> None:
        """Wait for a process of ``lane``, then run ``phases()`` (built when it starts) one after
        another on the cores, holding the process; ``done`` when the last ends."""
        submitted = sim.now

        def start(release: Callable[[], None]) -> None:
            if waited:
                waited(sim.now - submitted)
            steps = phases()

            def run(i: int) -> None:
                if i == len(steps):
                    release()
                    if done:
                        done()
                    return
                work, kind, marks = steps[i]
                cores.run(kind, [*marks, (work, lambda: run(i + 1))])

            run(0)

        lanes[lane].submit(priority, start)

    def speak(session: int, number: int) -> None:
        onset, end_of_speech = sim.now + x["lead_s"], sim.now + x["speech_end_s"]
        turn = Turn()
        partial_busy, final_started = [False], [False]

        def partial() -> None:
            # the API sends one per partial_interval while the user speaks, one in flight at a time
            if sim.now >= end_of_speech or partial_busy[0]:
                return
            partial_busy[0], sent, audio = True, sim.now, sim.now - onset + pad

            def back() -> None:
                # the API's clock went on ticking meanwhile (each tick a refused try): the next
                # partial goes at the first tick after this one is back
                partial_busy[0] = False
                ticks = max(1, math.ceil((sim.now - sent) / period - _EPS))
                sim.at(sent + ticks * period - sim.now, partial)

            # a partial that starts after its utterance's final is dropped unrun (run_partial)
            job("asr", Priority.ASR_PARTIAL, lambda: [] if final_started[0] else
                [(model.partial_s(audio) * spread("asr"), "asr_partial", [])], done=back)

        def after_vad() -> None:
            turn.vad = sim.now - end_of_speech

            def started(wait: float) -> None:
                turn.asr_wait, final_started[0] = wait, True

            job("asr", Priority.ASR_FINAL, lambda: [(model.asr_s(model.final_audio_s) * spread("asr"), "asr_final", [])],
                done=transcribed, waited=started)

        def transcribed() -> None:
            turn.final = sim.now - end_of_speech
            job("prosody", Priority.PROSODY, lambda: [(x["prosody_cpu_s"] * x["prosody_scale"], "prosody", [])])
            prompt = model.prompt_tokens(number)

            def phases() -> list[Phase]:
                prefill = model.prefill_s(prompt) * spread("prefill")  # ends with the first token
                return [(prefill, "prefill", [(prefill, first_token)]), *decoding()]

            job("llm", Priority.REPLY, phases, waited=lambda w: setattr(turn, "llm_wait", w))

        def first_token() -> None:
            turn.first_token = sim.now - end_of_speech

        def decoding() -> list[Phase]:
            """Tokens 2..N as one phase, each sentence sent to tts_fast as its token arrives."""
            per_token = step * spread("decode")
            marks = [((s.token - 1) * per_token, lambda i=i: speak_sentence(i)) for i, s in enumerate(model.sentences)]
            return [((x["reply_tokens"] - 1) * per_token, "decode", marks)]

        arrived: list[float] = []
        playing = [0.0]

        def speak_sentence(seq: int) -> None:
            chars = model.sentences[seq].chars

            def chunk() -> None:
                arrived.append(sim.now)
                playing[0] += model.audio_s(chars)
                if seq == 0:
                    turn.first_audio = sim.now - end_of_speech + x["overhead_s"]
                if len(arrived) == len(model.sentences):
                    heard(max(sim.now, arrived[0] + playing[0]))

            job("tts_fast", Priority.for_sentence(seq), lambda: [(model.lite_s(chars) * spread("lite"), "lite", [])],
                done=chunk)

        def heard(playback_end: float) -> None:
            level.turns.append(turn)
            if number + 1 < turns_per_session:  # closed loop: speak again once the reply has played
                sim.at(max(0.0, playback_end - sim.now), lambda: speak(session, number + 1))
            else:
                level.wall_s = max(level.wall_s, max(playback_end, sim.now))

        # The API's partial clock starts when the VAD confirms speech (vad_min_speech after its onset).
        sim.at(x["lead_s"] + max(x["partial_min_speech_s"], x["vad_min_speech_s"] + period), partial)
        # The VAD ends the turn once it has seen vad_min_silence of silence, frame by frame.
        sim.at(x["speech_end_s"] + x["vad_min_silence_s"] + x["frame_s"], after_vad)

    # Staggered first utterances, as the bench starts them: by a share of the stream's length
    # (taken as the speech's end + the silence sent after it; the recording's own tail after
    # its last loud sample, a few tenths of a second, is not in docs/benchmarks.md).
    stream_s = x["speech_end_s"] + x["silence_after_s"]
    for s in range(sessions):
        sim.at(s * stream_s / sessions, lambda s=s: speak(s, 0))
    sim.run()
    return level


__all__ = ["Cores", "Lane", "Level", "Turn", "run_level"]
