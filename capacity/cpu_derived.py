"""Service times of the ``cpu`` layout, computed from :mod:`capacity.cpu_figures`, each rule here.

Nothing here adds a number of its own: every factor is one of the inputs (its kind and source
in ``cpu_inputs()``) or a fact of the code (the chunker's cuts of the stand-in reply, the
history rule of ``avatar.conversation``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import cached_property

from avatar.chunker import SentenceChunker
from avatar.conversation import estimate_tokens
from avatar.model_files import RandomWeights
from avatar.settings import Settings
from avatar.text import speakable_text
from capacity.cpu_contention import PARTIAL_ROWS, job_kinds
from capacity.cpu_figures import ASR_LENGTHS, STAND_IN_REPLY, STAND_IN_TRANSCRIPT
from capacity import cpu_sharing
from capacity.cpu_sharing import JobKind
from capacity.figures import Figure

# The z-score of a normal distribution's 95th percentile: the lognormal spread of an engine's
# time is ln(P95 / median) / Z95.
Z95 = 1.6449


@dataclass(frozen=True)
class Sentence:
    token: int  # the reply token whose arrival releases it (the chunker needs one unit more)
    chars: int


class CpuModel:
    """What each engine call costs alone on this machine, and how sharing its cores slows it."""

    def __init__(self, inputs: dict[str, Figure]) -> None:
        self.x = {name: i.value for name, i in inputs.items()}

    # --- the LLM ------------------------------------------------------------------------------------
    @property
    def decode_s(self) -> float:
        """One decode step alone: the inverse of the 1-request tokens/s row."""
        return 1.0 / self.x["llm_tok_s_1"]

    def _attention_weight(self, tokens: float) -> float:
        """A prompt's prefill work in 'token' units: its tokens, plus attention's quadratic part.

        Per token the linear layers cost 2 x non-embedding parameters FLOPs; attention over a
        causal prompt of n tokens costs 2 x layers x hidden x n^2 in all (QK^T and AV, 2 FLOPs per
        multiply-add, each position attending to n/2 on average). In units of a token's linear
        cost: n + (layers x hidden / parameters) x n^2.
        """
        a = self.x["qwen05_layers"] * self.x["qwen05_hidden"] / self.x["qwen05_non_embedding_params"]
        return tokens + a * tokens * tokens

    def prefill_s(self, tokens: float) -> float:
        """Time to first token alone for a prompt of ``tokens``.

        A forward pass costs one read of the weights (a decode step, ``decode_s``) plus work in
        proportion to the prompt (``_attention_weight``); the 1-request TTFT row, measured with
        the ``row_prompt_tokens`` prompt, gives the proportion.
        """
        per_token = (self.x["llm_ttft_1_s"] - self.decode_s) / self._attention_weight(self.x["row_prompt_tokens"])
        return self.decode_s + per_token * self._attention_weight(tokens)

    def prompt_tokens(self, earlier_exchanges: int) -> int:
        """The prompt of a session's turn after ``earlier_exchanges`` exchanges, as
        ``avatar.conversation.build_messages`` keeps them (the newest that fit the context)."""
        settings = Settings.model_fields
        budget = self.x["llm_context_tokens"] - self.x["llm_max_tokens"]
        budget -= estimate_tokens(settings["system_prompt"].default) + estimate_tokens(self.transcript)
        per_exchange = estimate_tokens(self.transcript) + estimate_tokens(self.reply)
        kept = min(earlier_exchanges, max(0, int(budget // per_exchange)))
        return int(self.x["first_prompt_tokens"] + kept * self.x["exchange_tokens"])

    # --- ASR ----------------------------------------------------------------------------------------
    @property
    def final_audio_s(self) -> float:
        """The utterance the VAD hands to ASR: the speech with ``vad_speech_pad`` on each side."""
        return self.x["speech_end_s"] - self.x["lead_s"] + 2 * self.x["vad_speech_pad_s"]

    def asr_s(self, audio_s: float) -> float:
        """Whisper small alone for ``audio_s`` of audio: the rows joined by straight lines (below
        the 2 s row: as at 2 s, every input is padded to a 30 s window; above 10 s: the last
        segment's slope)."""
        points = [(float(n), self.x[f"asr_{n}s_s"]) for n in ASR_LENGTHS]
        if audio_s <= points[0][0]:
            return points[0][1]
        pairs = list(itertools.pairwise(points))
        for (x0, y0), (x1, y1) in pairs:
            if audio_s <= x1:
                break
        return y0 + (y1 - y0) * (audio_s - x0) / (x1 - x0)

    def partial_s(self, audio_s: float) -> float:
        """A live partial (beam 1) alone for ``audio_s`` of audio: the final's time (``asr_s``) times
        the contention benchmark's partial / final ratio at 2 and 5 s, joined by a straight line
        and held outside them."""
        ratio = {s: self.x[f"asr_partial_{s}s_alone_s"] / self.x[f"asr_final_{s}s_alone_s"] for s in PARTIAL_ROWS}
        (x0, y0), (x1, y1) = sorted(ratio.items())
        share = y0 + (y1 - y0) * (min(max(audio_s, x0), x1) - x0) / (x1 - x0)
        return self.asr_s(audio_s) * share

    # --- the reply as the benchmark's random LLM writes it --------------------------------------------
    @cached_property
    def transcript(self) -> str:
        count = math.ceil(self.final_audio_s * self.x["asr_tokens_per_s"])
        characters = itertools.cycle(STAND_IN_TRANSCRIPT)  # as workers/engines/asr/faster_whisper.py
        return "".join(next(characters) for _ in range(count))

    @cached_property
    def reply(self) -> str:
        return "".join(RandomWeights(STAND_IN_REPLY, reply_tokens=int(self.x["reply_tokens"])).pieces(
            int(self.x["reply_tokens"])))

    @cached_property
    def sentences(self) -> list[Sentence]:
        """The chunker's cuts of the stand-in reply, fed token by token as workers/reply.py does."""
        chunker, out = SentenceChunker(), []
        pieces = RandomWeights(STAND_IN_REPLY).pieces(int(self.x["reply_tokens"]))
        for token, piece in enumerate(pieces, 1):
            out += [Sentence(token, len(speakable_text(f))) for f in chunker.feed(piece)]
        return out + [Sentence(len(pieces), len(speakable_text(f))) for f in chunker.flush()]

    # --- lite TTS, prosody ---------------------------------------------------------------------------
    def lite_s(self, chars: int) -> float:
        """lite's synthesis alone, in proportion to the row's 50 characters."""
        return self.x["lite_50_chars_s"] * chars / 50

    def audio_s(self, chars: int) -> float:
        """How long a sentence plays: the row's synthesis time over its real-time factor, per character."""
        return self.x["lite_50_chars_s"] / self.x["lite_rtf"] * chars / 50

    # --- sharing the cores -------------------------------------------------------------------------------
    @cached_property
    def kinds(self) -> dict[str, JobKind]:
        """Each job kind's threads, busy cores alone and efficiency curve (:mod:`capacity.cpu_contention`)."""
        return job_kinds(self.x)

    def speeds(self, kinds: list[str]) -> list[float]:
        """The pace (1 = alone) of each of the jobs of ``kinds`` running at once (:mod:`capacity.cpu_sharing`)."""
        return cpu_sharing.speeds([self.kinds[k] for k in kinds], self.x["cores"])

    def spread(self, what: str) -> float:
        """The lognormal sigma of an engine's time (the ``spread`` rule)."""
        ratio = {
            "prefill": self.x["llm_ttft_1_p95_s"] / self.x["llm_ttft_1_s"],
            "decode": self.x["llm_tok_s_1"] / self.x["llm_tok_s_1_slow"],
            "asr": self.x["asr_5s_p95_s"] / self.x["asr_5s_s"],
            "lite": self.x["lite_50_chars_p95_s"] / self.x["lite_50_chars_s"],
        }.get(what, 1.0)
        return math.log(max(ratio, 1.0)) / Z95


__all__ = ["CpuModel", "Sentence", "Z95"]
