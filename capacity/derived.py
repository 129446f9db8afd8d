"""Service times computed from the figures in :mod:`capacity.figures`, each with its rule.

``Inputs`` holds one value per figure (the published/measured/assumed one, or an override for
the sensitivity table) and derives from them what the simulator needs. Nothing here adds a
number of its own: every factor below is a figure, so the sensitivity table can vary it.
"""

from __future__ import annotations

from collections.abc import Mapping

from capacity.figures import FIGURES

# faster-whisper's benchmark transcribes 13 minutes of audio: 26 windows of 30 s.
BENCH_AUDIO_WINDOWS = 13 * 60 / 30


class Inputs(Mapping[str, float]):
    """The figures' values, with ``overrides`` (name -> value) replacing some of them."""

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        unknown = set(overrides or {}) - set(FIGURES)
        if unknown:
            raise KeyError(f"no such figure: {', '.join(sorted(unknown))}")
        self._values = {name: figure.value for name, figure in FIGURES.items()} | dict(overrides or {})

    def __getitem__(self, name: str) -> float:
        return self._values[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    # --- ASR on the GPU --------------------------------------------------------------------------------

    def whisper_split_2080ti(self) -> tuple[float, float]:
        """(seconds per 30 s window outside the decoder layers, seconds per token in large-v3's 32 layers).

        Whisper large-v3-turbo keeps large-v3's 32-layer encoder unchanged; only the decoder
        shrinks, from 32 layers to 4 (the openai/whisper-large-v3-turbo model card). So of the
        two published times on the same GPU and audio, large = E + D and turbo = E + D * 4/32,
        where E is everything the layer count leaves alone (the encoder, the mel features, the
        decoder's embedding and output projection) and D the decoder layers' time. Solving:
        D = (large - turbo) / (1 - 4/32) and E = large - D. Scaling turbo's *whole* time from
        large-v3 by 4/32 would also shrink the encoder, which turbo does not shrink.
        """
        ratio = self["whisper_decoder_layers_turbo"] / self["whisper_decoder_layers_large_v3"]
        large, turbo = self["fw_large_v3_13min_s"], self["fw_turbo_13min_s"]
        decoder_layers_s = (large - turbo) / (1 - ratio)
        rest_s = large - decoder_layers_s
        return rest_s / BENCH_AUDIO_WINDOWS, decoder_layers_s / self["bench_audio_tokens"]

    def asr_gpu_s(self, speech_s: float, decoder_layers: float | None = None) -> float:
        """Turbo on the RTX 4090 for one utterance of ``speech_s``: one padded window + its tokens.

        ``decoder_layers`` prices the same encoder with another decoder depth (32: large-v3).

        The window part (encoder at 1,500 positions: compute-bound) scales from the 2080 Ti by
        the FP16 tensor rate; the per-token decoder part (a few rows per step: memory-bound)
        by memory bandwidth, after cutting large-v3's 32 decoder layers to turbo's 4. The
        long-form benchmark's windows are full of speech, so its ~100 tokens per window make
        the per-token split sound; a short utterance pays the whole window and few tokens.
        """
        window_s, token_s_large = self.whisper_split_2080ti()
        layers = self["whisper_decoder_layers_turbo"] if decoder_layers is None else decoder_layers
        ratio = layers / self["whisper_decoder_layers_large_v3"]
        window_4090 = window_s * self["rtx2080ti_fp16_tflops"] / self["rtx4090_fp16_tflops"]
        token_4090 = token_s_large * ratio * self["rtx2080ti_bandwidth_gb_s"] / self["rtx4090_bandwidth_gb_s"]
        tokens = speech_s * self["speech_chars_per_s"] * self["whisper_tokens_per_char"] + 1  # + end of text
        return window_4090 + tokens * token_4090

    def asr_s(self, on_gpu: bool, speech_s: float) -> float:
        # On the CPU the padded 30 s window dominates, whatever the utterance's length.
        return self.asr_gpu_s(speech_s) if on_gpu else self["asr_cpu_2core_s"]

    # --- LLM ----------------------------------------------------------------------------------------------

    def llm_prefill_s(self) -> float:
        """GPU time to prefill one prompt: 2 FLOP per non-embedding parameter per prompt token.

        600 tokens x 2 x 6.53e9 = 7.8 TFLOP at 40 % of 165.2 TFLOPS = 0.119 s, + 30 ms for the
        request itself. (The embedding lookup costs no FLOPs, and the output projection runs for
        the last position only, so the 6.53B non-embedding parameters are the ones that count;
        attention over a 600-token prompt adds ~1 %.) Concurrency does not enter here: the
        simulator queues prefills one after another on the engine (vLLM batches the prompts that
        arrive together into one step, which costs the sum of their tokens: the same total).
        """
        flop = self["llm_prompt_tokens"] * 2 * self["qwen_7b_non_embedding_params"]
        rate = self["rtx4090_fp16_tflops"] * 1e12 * self["gpu_matmul_efficiency"]
        return flop / rate + self["llm_request_overhead_s"]

    def llm_tpot_batch1_s(self) -> float:
        """Seconds per token for one sequence: decoding at batch 1 reads every weight once per
        token, so its speed scales with memory bandwidth: 148 tok/s x 1,008 / 2,039 = 73 tok/s."""
        tok_s = self["qwen_awq_a100_tok_s"] * self["rtx4090_bandwidth_gb_s"] / self["a100_bandwidth_gb_s"]
        return 1.0 / tok_s


__all__ = ["BENCH_AUDIO_WINDOWS", "Inputs"]
