"""Capacity planning: a discrete-event simulation of AVATAR's lanes on one box layout.

Each session loops: the user speaks (lognormal length), the VAD closes the turn, the ``asr``
lane transcribes, vLLM streams the reply (prefill, then tokens at a per-sequence speed that
drops as more sequences decode together), the sentence chunker sends each sentence to
``tts_fast`` (the first at priority 0), ``prosody`` analyses the utterance on the CPU, and for
HQ sessions every sentence also goes to the single-slot ``tts_hq`` lane. The user listens to
the reply, pauses, and speaks again. Jobs on one GPU slow each other
(``gpu_interference``). Every service time comes from :mod:`capacity.figures`, which
names its source.

Measured per stage: end of speech -> first audio (the seed's E2E SLO, P95 <= 3.5 s), TTFT
(accepted -> first token, P95 <= 0.8 s), queue waits, and each pool's utilisation; the
bottleneck is the busiest pool. ``plan()`` searches sessions per box at the SLO and the
boxes needed for a given number of sessions.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from capacity.figures import value as fig

# --- box layouts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """What one unit of hardware runs. ``gpu`` names which GPU each pool uses (None: CPU)."""

    name: str
    description: str
    boxes: int  # physical boxes per unit
    pools: dict[str, int]  # pool -> servers (worker processes / slots)
    gpu: dict[str, str | None]  # pool -> GPU id within the unit, or None for CPU
    asr_s: float = field(default_factory=lambda: fig("asr_gpu_s"))
    vllm_max_seqs: int = 64


LAYOUTS: dict[str, Layout] = {
    "single-4090": Layout(
        "single-4090", "one MAXER-2100 (i7-13700, 64 GB, RTX 4090): every model on the one GPU", 1,
        pools={"asr": 1, "tts_fast": 1, "tts_hq": 1, "prosody": 4},
        gpu={"llm": "0", "asr": "0", "tts_fast": "0", "tts_hq": "0", "prosody": None},
    ),
    "single-4090-2fast": Layout(
        "single-4090-2fast", "one MAXER-2100, two tts_fast workers (F5 loaded twice: +1.4 GB)", 1,
        pools={"asr": 1, "tts_fast": 2, "tts_hq": 1, "prosody": 4},
        gpu={"llm": "0", "asr": "0", "tts_fast": "0", "tts_hq": "0", "prosody": None},
    ),
    "two-box": Layout(
        "two-box", "two MAXER-2100s: box A vLLM alone, box B ASR + 3x fast TTS + HQ all resident", 2,
        pools={"asr": 1, "tts_fast": 3, "tts_hq": 1, "prosody": 6},
        gpu={"llm": "A", "asr": "B", "tts_fast": "B", "tts_hq": "B", "prosody": None},
    ),
    "single-48gb": Layout(
        "single-48gb", "one box with a 48 GB GPU (e.g. RTX 6000 Ada): 2x fast TTS and HQ resident beside vLLM", 1,
        pools={"asr": 1, "tts_fast": 2, "tts_hq": 1, "prosody": 4},
        gpu={"llm": "0", "asr": "0", "tts_fast": "0", "tts_hq": "0", "prosody": None},
    ),
    "single-4090-cpu-asr": Layout(
        "single-4090-cpu-asr", "one MAXER-2100 with ASR on the CPU (turbo, 4 processes x 2 cores)", 1,
        pools={"asr": 4, "tts_fast": 1, "tts_hq": 1, "prosody": 4},
        gpu={"llm": "0", "asr": None, "tts_fast": "0", "tts_hq": "0", "prosody": None},
        asr_s=fig("asr_cpu_2core_s"),
    ),
}

# --- the event loop --------------------------------------------------------------------------------


class Sim:
    def __init__(self, seed: int) -> None:
        self.now = 0.0
        self.rng = random.Random(seed)
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._ids = itertools.count()

    def at(self, delay: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + max(0.0, delay), next(self._ids), fn))

    def run(self, until: float) -> None:
        while self._queue and self._queue[0][0] <= until:
            self.now, _, fn = heapq.heappop(self._queue)
            fn()
        self.now = until


class Pool:
    """``servers`` workers taking jobs by priority (lower first), then arrival."""

    def __init__(self, sim: Sim, name: str, servers: int, gpu: str | None, gpus: dict[str, list[int]]) -> None:
        self.sim, self.name, self.servers, self.gpu = sim, name, servers, gpu
        self.busy = 0
        self.busy_time = 0.0
        self._last = 0.0
        self._waiting: list[tuple[int, int, float, float, Callable[[float], None]]] = []
        self._ids = itertools.count()
        self.waits: list[float] = []
        self._gpus = gpus  # gpu id -> [busy jobs]: shared by every pool on that GPU

    def _account(self) -> None:
        self.busy_time += self.busy * (self.sim.now - self._last)
        self._last = self.sim.now

    def submit(self, service_s: float, done: Callable[[float], None], priority: int = 5) -> None:
        heapq.heappush(self._waiting, (priority, next(self._ids), self.sim.now, service_s, done))
        self._start()

    def interference(self) -> float:
        if self.gpu is None:
            return 1.0
        others = self._gpus[self.gpu][0]
        return 1.0 + fig("gpu_interference") * others

    def _start(self) -> None:
        while self.busy < self.servers and self._waiting:
            _, _, queued_at, service_s, done = heapq.heappop(self._waiting)
            self._account()
            self.busy += 1
            self.waits.append(self.sim.now - queued_at)
            took = service_s * self.interference()
            if self.gpu is not None:
                self._gpus[self.gpu][0] += 1

            def finish(done: Callable[[float], None] = done) -> None:
                self._account()
                self.busy -= 1
                if self.gpu is not None:
                    self._gpus[self.gpu][0] -= 1
                done(self.sim.now)
                self._start()

            self.sim.at(took, finish)

    def utilisation(self, horizon: float) -> float:
        self._account()
        return self.busy_time / (self.servers * horizon) if horizon > 0 else 0.0


@dataclass
class Result:
    sessions: int
    layout: str
    turns: int
    e2e: list[float]
    ttft: list[float]
    asr_wait: list[float]
    tts_fast_wait: list[float]
    hq_lag: list[float]
    stalls: list[float]  # how late each later sentence was for gap-free playback
    utilisation: dict[str, float]
    asr_latency: list[float] = field(default_factory=list)  # end of speech -> transcript

    def p95(self, samples: list[float]) -> float:
        return percentile(samples, 95)

    @property
    def bottleneck(self) -> str:
        """The busiest pool; or, when nothing is busy but first audio is still late, the slow stage."""
        busiest = max(self.utilisation, key=self.utilisation.get)  # type: ignore[arg-type]
        if self.utilisation[busiest] < 0.5 and self.asr_latency and self.p95(self.asr_latency) > self.p95(self.e2e) / 2:
            return "asr (latency)"
        return busiest

    def meets(self, slo_p95_s: float, ttft_p95_s: float = 0.8) -> bool:
        return (
            bool(self.e2e) and self.p95(self.e2e) <= slo_p95_s and self.p95(self.ttft) <= ttft_p95_s
            and self.p95(self.stalls) <= 0.5 and max(self.utilisation.values()) < 0.9
        )


def percentile(samples: list[float], q: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    k = (len(ordered) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def simulate(sessions: int, layout: Layout | str = "single-4090", *, minutes: float = 30.0, seed: int = 1) -> Result:
    """Run ``sessions`` conversations for ``minutes`` of simulated time on one unit of ``layout``."""
    layout = LAYOUTS[layout] if isinstance(layout, str) else layout
    sim = Sim(seed)
    rng = sim.rng
    gpus: dict[str, list[int]] = {g: [0] for g in set(layout.gpu.values()) if g is not None}
    pools = {name: Pool(sim, name, n, layout.gpu[name], gpus) for name, n in layout.pools.items()}
    llm_gpu = layout.gpu["llm"]
    llm_active = [0]
    llm_busy_time = [0.0, 0.0]  # (integral of min(active,1), last change)
    horizon = minutes * 60.0
    warmup = 60.0
    out = Result(sessions, layout.name, 0, [], [], [], [], [], [], {})

    def llm_mark() -> None:
        llm_busy_time[0] += (1 if llm_active[0] else 0) * (sim.now - llm_busy_time[1])
        llm_busy_time[1] = sim.now

    tok = fig("sentence_tokens")
    chars_per_tok, chars_per_s = fig("chars_per_token"), fig("speech_chars_per_s")

    def audio_s(tokens: float) -> float:
        return tokens * chars_per_tok / chars_per_s

    def turn(session: int, hq: bool) -> None:
        speech = rng.lognormvariate(math.log(fig("utterance_median_s")), 0.5)
        end_of_speech = sim.now + speech
        record = sim.now + speech > warmup

        def after_vad() -> None:
            pools["prosody"].submit(fig("prosody_cpu_s") * rng.uniform(0.7, 1.0), lambda _t: None, priority=5)
            queued = sim.now
            pools["asr"].submit(layout.asr_s * rng.uniform(0.8, 1.2), lambda t: after_asr(queued), priority=0)

        def after_asr(queued: float) -> None:
            if record:
                out.asr_wait.append(pools["asr"].waits[-1] if pools["asr"].waits else 0.0)
                out.asr_latency.append(sim.now - end_of_speech)
            accepted = sim.now + fig("orchestration_p95_s") / 2
            llm_mark()
            llm_active[0] += 1
            batch = min(llm_active[0], layout.vllm_max_seqs)
            others = gpus[llm_gpu][0] if llm_gpu in gpus else 0
            slow = 1.0 + fig("gpu_interference") * others
            tpot = fig("llm_tpot_batch1_s") * (1 + fig("llm_batch_slowdown") * (batch - 1)) * slow
            ttft = fig("llm_prefill_s") * slow * (1 + 0.1 * (batch - 1))
            reply = max(8.0, rng.gauss(fig("reply_tokens_mean"), 15.0))
            cuts = [fig("first_fragment_tokens")]
            while cuts[-1] < reply:
                cuts.append(min(reply, cuts[-1] + tok))
            first_audio = [None]
            spoken = [0.0]
            remaining = [len(cuts)]
            if record:
                out.ttft.append(accepted - sim.now + ttft + fig("orchestration_p95_s") / 2)

            def sentence_ready(i: int, tokens: float) -> None:
                duration = audio_s(tokens)

                def synthesized(t: float) -> None:
                    if first_audio[0] is None:
                        first_audio[0] = t
                        if record:
                            out.e2e.append(t - end_of_speech + fig("orchestration_p95_s") / 2)
                    elif record:  # needed when everything before it has played
                        out.stalls.append(max(0.0, t - (first_audio[0] + spoken[0])))
                    spoken[0] += duration
                    remaining[0] -= 1
                    if remaining[0] == 0:  # the user hears the reply out, pauses, speaks again
                        listen = max(0.0, first_audio[0] + spoken[0] - sim.now)
                        sim.at(listen + rng.expovariate(1 / fig("think_mean_s")), lambda: turn(session, hq))

                pools["tts_fast"].submit(duration * fig("tts_fast_rtf") * rng.uniform(0.8, 1.2), synthesized,
                                         priority=0 if i == 0 else 5)
                if hq:
                    made = sim.now

                    def hq_done(t: float) -> None:
                        if record:
                            out.hq_lag.append(t - made)

                    pools["tts_hq"].submit(duration * fig("tts_hq_rtf") * rng.uniform(0.8, 1.2), hq_done, priority=7)

            previous = 0.0
            for i, cut in enumerate(cuts):
                sim.at(ttft + cut * tpot, lambda i=i, n=cut - previous: sentence_ready(i, n))
                previous = cut

            def llm_done() -> None:
                llm_mark()
                llm_active[0] -= 1

            sim.at(ttft + reply * tpot, llm_done)
            if record:
                out.turns += 1

        sim.at(speech + fig("vad_endpoint_s"), after_vad)

    hq_sessions = round(sessions * fig("hq_session_share"))
    for s in range(sessions):  # sessions start spread over the first minute
        sim.at(rng.uniform(0, warmup), lambda s=s: turn(s, s < hq_sessions))
    sim.run(horizon)
    llm_mark()
    out.utilisation = {name: pool.utilisation(horizon) for name, pool in pools.items()}
    out.utilisation["llm (decoding share)"] = llm_busy_time[0] / horizon
    return out


# --- planning --------------------------------------------------------------------------------------


def sessions_per_unit(layout: str, slo_p95_s: float, *, minutes: float = 20.0, limit: int = 80) -> tuple[int, Result]:
    """The most sessions one unit of ``layout`` holds with P95 E2E and TTFT within the SLO."""
    best, best_result = 0, simulate(1, layout, minutes=minutes)
    lo, hi = 1, limit
    while lo <= hi:  # the SLO is monotone in sessions, up to simulation noise
        mid = (lo + hi) // 2
        result = simulate(mid, layout, minutes=minutes)
        if result.meets(slo_p95_s):
            best, best_result, lo = mid, result, mid + 1
        else:
            hi = mid - 1
    return best, best_result


@dataclass
class Plan:
    sessions: int
    layout: Layout
    per_unit: int
    units: int
    at_load: Result

    @property
    def boxes(self) -> int:
        return self.units * self.layout.boxes


def plan(sessions: int, layout: str = "single-4090", slo_p95_s: float = 3.5, *, minutes: float = 20.0) -> Plan:
    per_unit, _ = sessions_per_unit(layout, slo_p95_s, minutes=minutes)
    units = math.ceil(sessions / per_unit) if per_unit else 0
    load = math.ceil(sessions / units) if units else 1  # infeasible: show why, at one session
    return Plan(sessions, LAYOUTS[layout], per_unit, units, simulate(load, layout, minutes=minutes))


__all__ = ["LAYOUTS", "Layout", "Plan", "Result", "percentile", "plan", "sessions_per_unit", "simulate"]
