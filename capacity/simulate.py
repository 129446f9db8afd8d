"""Capacity planning: a discrete-event simulation of AVATAR's lanes on one box layout.

Each session loops: the user speaks (lognormal length), the VAD closes the turn, the ``asr``
lane transcribes, vLLM prefills the prompt (prefills queue one after another on the engine)
and streams the reply at a per-sequence speed that drops as more sequences decode together,
the sentence chunker sends each sentence to ``tts_fast`` (the first at priority 0),
``prosody`` analyses the utterance on the CPU, and for HQ sessions every sentence also goes
to the single-slot ``tts_hq`` lane. The user listens to the reply, pauses, and speaks again.
Jobs on one GPU slow each other (``gpu_interference``; the vLLM engine counts as one job
while it serves anything). Every service time comes from :mod:`capacity.derived`, computed
from the labelled figures of :mod:`capacity.figures`.

Measured per stage: end of speech -> first audio (the seed's E2E SLO, P95 <= 3.5 s), TTFT
(accepted -> first token, P95 <= 0.8 s), queue waits, and each pool's utilisation; the
bottleneck is the busiest pool. ``plan()`` searches sessions per box at the SLO and the
boxes needed for a given number of sessions.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from capacity.derived import Inputs
from capacity.event_loop import Sim, percentile
from capacity.layouts import LAYOUTS, Layout

# The simulation method, not inputs about the world: sessions start spread over the first
# minute, which is left out of every statistic.
WARMUP_S = 60.0


class Pool:
    """``servers`` workers taking jobs by priority (lower first), then arrival."""

    def __init__(self, sim: Sim, name: str, servers: int, gpu: str | None, gpus: dict[str, list[int]],
                 interference: float) -> None:
        self.sim, self.name, self.servers, self.gpu = sim, name, servers, gpu
        self.busy = 0
        self.busy_time = 0.0
        self._last = 0.0
        self._waiting: list[tuple[int, int, float, float, Callable[[float], None]]] = []
        self._ids = itertools.count()
        self.waits: list[float] = []
        self._gpus = gpus  # gpu id -> [busy jobs]: shared by every pool on that GPU and the LLM engine
        self._interference = interference

    def _account(self) -> None:
        self.busy_time += self.busy * (self.sim.now - self._last)
        self._last = self.sim.now

    def submit(self, service_s: float, done: Callable[[float], None], priority: int = 5) -> None:
        heapq.heappush(self._waiting, (priority, next(self._ids), self.sim.now, service_s, done))
        self._start()

    def _start(self) -> None:
        while self.busy < self.servers and self._waiting:
            _, _, queued_at, service_s, done = heapq.heappop(self._waiting)
            self._account()
            self.busy += 1
            self.waits.append(self.sim.now - queued_at)
            took = service_s * gpu_slowdown(self._gpus, self.gpu, self._interference)
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


def gpu_slowdown(gpus: dict[str, list[int]], gpu: str | None, interference: float) -> float:
    """How much a job starting now on ``gpu`` is stretched by the other jobs busy there."""
    return 1.0 if gpu is None else 1.0 + interference * gpus[gpu][0]


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

    def meets(self, slo_p95_s: float, inputs: Inputs | None = None) -> bool:
        inputs = inputs or Inputs()
        return (
            bool(self.e2e) and self.p95(self.e2e) <= slo_p95_s and self.p95(self.ttft) <= inputs["slo_ttft_p95_s"]
            and self.p95(self.stalls) <= inputs["slo_stall_p95_s"]
            and max(self.utilisation.values()) < inputs["pool_busy_limit"]
        )


def simulate(sessions: int, layout: Layout | str = "single-4090", *, minutes: float = 30.0, seed: int = 1,
             inputs: Inputs | None = None) -> Result:
    """Run ``sessions`` conversations for ``minutes`` of simulated time on one unit of ``layout``."""
    layout = LAYOUTS[layout] if isinstance(layout, str) else layout
    x = inputs or Inputs()
    sim = Sim(seed)
    rng = sim.rng
    gpus: dict[str, list[int]] = {g: [0] for g in set(layout.gpu.values()) if g is not None}
    interference = x["gpu_interference"]
    pools = {name: Pool(sim, name, n, layout.gpu[name], gpus, interference) for name, n in layout.pools.items()}
    llm_gpu = layout.gpu["llm"]
    llm_active = [0]  # sequences the engine serves (prefilling or decoding)
    llm_busy_time = [0.0, 0.0]  # (integral of min(active,1), last change)
    prefill_free_at = [0.0]  # when the engine has prefilled every prompt queued so far
    horizon = minutes * 60.0
    out = Result(sessions, layout.name, 0, [], [], [], [], [], [], {})
    orchestration = x["orchestration_p95_s"]
    prefill_s, tpot_1 = x.llm_prefill_s(), x.llm_tpot_batch1_s()
    asr_on_gpu = layout.gpu["asr"] is not None
    prosody_median, prosody_p95 = x["prosody_cpu_median_s"], x["prosody_cpu_p95_s"]

    def jitter() -> float:
        return rng.uniform(1 - x["service_jitter"], 1 + x["service_jitter"])

    def llm_mark() -> None:
        llm_busy_time[0] += (1 if llm_active[0] else 0) * (sim.now - llm_busy_time[1])
        llm_busy_time[1] = sim.now

    def llm_engine(delta: int) -> None:
        """The vLLM engine is one GPU job for the others while it serves any sequence."""
        llm_mark()
        was_busy = llm_active[0] > 0
        llm_active[0] += delta
        if llm_gpu is not None and was_busy != (llm_active[0] > 0):
            gpus[llm_gpu][0] += 1 if llm_active[0] else -1

    tok = x["sentence_tokens"]
    chars_per_tok, chars_per_s = x["chars_per_token"], x["speech_chars_per_s"]

    def audio_s(tokens: float) -> float:
        return tokens * chars_per_tok / chars_per_s

    def turn(session: int, hq: bool) -> None:
        speech = rng.lognormvariate(math.log(x["utterance_median_s"]), x["utterance_sigma"])
        end_of_speech = sim.now + speech
        record = sim.now + speech > WARMUP_S

        def after_vad() -> None:
            # Uniform between the measured median's mirror image and the P95: its mean is the median.
            pools["prosody"].submit(rng.uniform(2 * prosody_median - prosody_p95, prosody_p95), lambda _t: None)
            queued = sim.now
            pools["asr"].submit(x.asr_s(asr_on_gpu, speech) * jitter(), lambda t: after_asr(queued), priority=0)

        def after_asr(queued: float) -> None:
            if record:
                out.asr_wait.append(pools["asr"].waits[-1] if pools["asr"].waits else 0.0)
                out.asr_latency.append(sim.now - end_of_speech)
            # Other GPU jobs stretch the engine's work; the engine itself is not one of "the others".
            others = gpus[llm_gpu][0] - (1 if llm_active[0] else 0) if llm_gpu in gpus else 0
            slow = 1.0 + interference * others
            decoding = llm_active[0]
            llm_engine(+1)
            batch = min(llm_active[0], int(x["vllm_max_seqs"]))
            tpot = tpot_1 * (1 + x["llm_batch_slowdown"] * (batch - 1)) * slow
            # TTFT: the request joins at the end of the engine step under way (up to one decode
            # step when sequences are decoding), then waits for the prompts queued before it,
            # then its own prefill. (The old rule charged each decoding sequence 10 % of a whole
            # prefill; a decoding sequence adds one token to the prefill step, not 60.)
            step_wait = rng.uniform(0, tpot) if decoding else 0.0
            start = max(sim.now + orchestration / 2 + step_wait, prefill_free_at[0])
            prefill_free_at[0] = start + prefill_s * slow
            ttft = prefill_free_at[0] - sim.now
            reply = min(x["llm_max_tokens"], max(x["reply_tokens_min"],
                                                 rng.gauss(x["reply_tokens_mean"], x["reply_tokens_sd"])))
            cuts = [min(reply, x["first_fragment_tokens"])]
            while cuts[-1] < reply:
                cuts.append(min(reply, cuts[-1] + tok))
            first_audio = [None]
            spoken = [0.0]
            remaining = [len(cuts)]
            if record:
                out.ttft.append(ttft + orchestration / 2)

            def sentence_ready(i: int, tokens: float) -> None:
                duration = audio_s(tokens)

                def synthesized(t: float) -> None:
                    if first_audio[0] is None:
                        first_audio[0] = t
                        if record:
                            out.e2e.append(t - end_of_speech + orchestration / 2)
                    elif record:  # needed when everything before it has played
                        out.stalls.append(max(0.0, t - (first_audio[0] + spoken[0])))
                    spoken[0] += duration
                    remaining[0] -= 1
                    if remaining[0] == 0:  # the user hears the reply out, pauses, speaks again
                        listen = max(0.0, first_audio[0] + spoken[0] - sim.now)
                        sim.at(listen + rng.expovariate(1 / x["think_mean_s"]), lambda: turn(session, hq))

                pools["tts_fast"].submit(duration * x["tts_fast_rtf"] * jitter(), synthesized,
                                         priority=0 if i == 0 else 5)
                if hq:
                    made = sim.now

                    def hq_done(t: float) -> None:
                        if record:
                            out.hq_lag.append(t - made)

                    pools["tts_hq"].submit(duration * x["tts_hq_rtf"] * jitter(), hq_done, priority=7)

            previous = 0.0
            for i, cut in enumerate(cuts):
                sim.at(ttft + cut * tpot, lambda i=i, n=cut - previous: sentence_ready(i, n))
                previous = cut

            sim.at(ttft + reply * tpot, lambda: llm_engine(-1))
            if record:
                out.turns += 1

        sim.at(speech + x["vad_endpoint_s"], after_vad)

    hq_sessions = round(sessions * x["hq_session_share"])
    for s in range(sessions):  # sessions start spread over the first minute
        sim.at(rng.uniform(0, WARMUP_S), lambda s=s: turn(s, s < hq_sessions))
    sim.run(horizon)
    llm_mark()
    out.utilisation = {name: pool.utilisation(horizon) for name, pool in pools.items()}
    out.utilisation["llm (decoding share)"] = llm_busy_time[0] / horizon
    return out


# --- planning --------------------------------------------------------------------------------------


def sessions_per_unit(layout: str, slo_p95_s: float, *, minutes: float = 20.0, limit: int = 80,
                      inputs: Inputs | None = None) -> tuple[int, Result]:
    """The most sessions one unit of ``layout`` holds within the SLO (0 if its models do not fit)."""
    inputs = inputs or Inputs()
    best, best_result = 0, simulate(1, layout, minutes=minutes, inputs=inputs)
    if not LAYOUTS[layout].fits_vram(inputs):
        return 0, best_result
    lo, hi = 1, limit
    while lo <= hi:  # the SLO is monotone in sessions, up to simulation noise
        mid = (lo + hi) // 2
        result = simulate(mid, layout, minutes=minutes, inputs=inputs)
        if result.meets(slo_p95_s, inputs):
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


def plan(sessions: int, layout: str = "single-4090", slo_p95_s: float = 3.5, *, minutes: float = 20.0,
         inputs: Inputs | None = None) -> Plan:
    per_unit, _ = sessions_per_unit(layout, slo_p95_s, minutes=minutes, inputs=inputs)
    units = math.ceil(sessions / per_unit) if per_unit else 0
    load = math.ceil(sessions / units) if units else 1  # infeasible: show why, at one session
    return Plan(sessions, LAYOUTS[layout], per_unit, units, simulate(load, layout, minutes=minutes, inputs=inputs))


__all__ = ["LAYOUTS", "WARMUP_S", "Layout", "Plan", "Result", "percentile", "plan", "sessions_per_unit", "simulate"]
