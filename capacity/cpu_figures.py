"""The inputs of the ``cpu`` layout: AVATAR's cpu profile on this machine (2 shared cores), as
``python -m bench.voice`` runs it, each with its kind and source (the kinds of
:mod:`capacity.figures`).

The engines' speeds are **read from docs/benchmarks.md's per-engine rows** (:class:`Cell`),
and how they slow each other from its contention rows (:mod:`capacity.cpu_contention`), never from the voice-to-voice results the model is checked against (:mod:`capacity.check`):
re-running ``make bench`` and then ``python -m capacity.doc`` re-runs the check on the new
rows. Settings come from ``avatar/settings.py``'s defaults (the profile changes none of them).
The benchmark's own set-up (its recording, the random models' fixed lengths and stand-in text,
the API's partial rule) lives in packages this one may not import (``bench/``, ``models/``,
``api/``): it is mirrored here as ``setting`` figures, and tests/capacity/test_cpu_box.py fails
when a mirror drifts from its original. :mod:`capacity.cpu_derived` turns these into service
times.
"""

from __future__ import annotations

import re
from pathlib import Path

from avatar.settings import Settings
from capacity.bench_doc import BENCHMARKS, Cell, section_text
from capacity.cpu_contention import contention_inputs
from capacity.figures import Figure, assumed

ENGINES = "Per-engine speed at real size"
VOICE = "Voice to voice"
LLM_TABLE, ASR_TABLE = "LLM, `transformers` engine on CPU", "ASR, faster-whisper"
LLM_MODEL, ASR_MODEL = "qwen2.5-0.5b-instruct", "faster-whisper-small"
LLM_ROW = (LLM_MODEL, "1")  # the LLM row read: one request alone (the sharing comes from bench.contention)
ASR_LENGTHS = (2, 5, 10)  # utterance seconds of the ASR rows
QWEN_CARD = "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct"

# --- mirrors of the benchmark's set-up (tests/capacity/test_cpu_box.py checks each) -------------
STAND_IN_REPLY = "好的，我來說明一下。今天台北天氣晴朗，氣溫大約二十五度，下午可能有短暫陣雨，出門記得帶把傘喔。"
STAND_IN_TRANSCRIPT = "今天台北天氣怎麼樣？我下午想去淡水走走，有什麼建議嗎？"


def _cell(cell: Cell, unit: str, scale: float = 1.0, doc: Path = BENCHMARKS) -> Figure:
    return Figure(cell.value(doc) * scale, unit, "measured-here", cell.cite())


def _setting(name: str, unit: str, scale: float = 1.0) -> Figure:
    default = Settings.model_fields[name].default
    return Figure(float(default) * scale, unit, "setting", f"avatar/settings.py {name} = {default}")


def _mirror(value: float, unit: str, where: str) -> Figure:
    return Figure(value, unit, "setting", f"{where} (mirrored in capacity/cpu_figures.py; a test checks it)")


def speech_end_s(doc: Path = BENCHMARKS) -> Figure:
    """Where the recording's speech ends, as the voice section states it ("speech 5.80 s")."""
    found = re.search(r"speech (\d+(?:\.\d+)?) s", section_text(VOICE, doc))
    if found is None:
        raise LookupError(f"{doc.name}: the {VOICE!r} section does not say where the speech ends ('speech N s')")
    return Figure(float(found.group(1)), "s", "setting",
                 f"docs/benchmarks.md, {VOICE}: the recording's speech ends {found.group(1)} s into the stream "
                 "(bench/voice.py recording(), the last sample above 0.01)")


def voice_column(sessions: int) -> str:
    """The voice table's column header for a level."""
    return f"{sessions} session{'s' if sessions > 1 else ''} median / P95"


def turns_per_level(doc: Path = BENCHMARKS) -> dict[int, int]:
    """Sessions -> turns the voice bench measured at that level (its row 'turns measured')."""
    return {sessions: int(Cell(VOICE, ("turns measured (failed)",), voice_column(sessions)).value(doc))
            for sessions in (1, 3, 5)}


def cpu_inputs(doc: Path = BENCHMARKS) -> dict[str, Figure]:
    """Every input of the cpu layout, by name, read now (docs/benchmarks.md as it stands)."""
    found: dict[str, Figure] = {
        "llm_ttft_1_s": _cell(Cell(ENGINES, LLM_ROW, "TTFT median (s)", LLM_TABLE), "s", doc=doc),
        "llm_tok_s_1": _cell(Cell(ENGINES, LLM_ROW, "tokens/s median", LLM_TABLE), "tokens/s", doc=doc),
    }
    found["llm_ttft_1_p95_s"] = _cell(Cell(ENGINES, LLM_ROW, "TTFT P95 (s)", LLM_TABLE), "s", doc=doc)
    found["llm_tok_s_1_slow"] = _cell(Cell(ENGINES, LLM_ROW, "tokens/s P95 (slowest 5 %)", LLM_TABLE), "tokens/s",
                                      doc=doc)
    for length in ASR_LENGTHS:
        found[f"asr_{length}s_s"] = _cell(Cell(ENGINES, (ASR_MODEL, str(length)), "median (s)", ASR_TABLE), "s",
                                          doc=doc)
    found["asr_5s_p95_s"] = _cell(Cell(ENGINES, (ASR_MODEL, "5"), "P95 (s)", ASR_TABLE), "s", doc=doc)
    found["lite_50_chars_s"] = _cell(Cell("Voice cloning", ("seconds to synthesise",), "median"), "s", doc=doc)
    found["lite_50_chars_p95_s"] = _cell(Cell("Voice cloning", ("seconds to synthesise",), "P95"), "s", doc=doc)
    found["lite_rtf"] = _cell(Cell("Voice cloning", ("real-time factor",), "median"), "RTF", doc=doc)
    found["prosody_cpu_s"] = _cell(Cell("Prosody analysis speed", ("whole analysis, CPU time",), "median (s)"),
                                   "CPU s", doc=doc)
    found["overhead_s"] = _cell(Cell("Orchestration overhead", ("1",), "Overhead median", "conversational pacing"),
                                "s", scale=0.001, doc=doc)
    found["speech_end_s"] = speech_end_s(doc)
    found |= {
        # published: Qwen2.5-0.5B's shape, for the attention part of a long prompt's prefill
        "qwen05_layers": Figure(24, "layers", "published", f"{QWEN_CARD} (model card: 24 layers)"),
        "qwen05_hidden": Figure(896, "dims", "published", f"{QWEN_CARD}/blob/main/config.json (hidden_size 896)"),
        "qwen05_non_embedding_params": Figure(0.36e9, "parameters", "published",
                                             f"{QWEN_CARD} (model card: 0.49B parameters, 0.36B non-embedding)"),
        # avatar/settings.py defaults (the cpu profile overrides none of these)
        "vad_min_silence_s": _setting("vad_min_silence_ms", "s", 0.001),
        "vad_min_speech_s": _setting("vad_min_speech_ms", "s", 0.001),
        "vad_speech_pad_s": _setting("vad_speech_pad_ms", "s", 0.001),
        "partial_interval_s": _setting("partial_interval_ms", "s", 0.001),
        "asr_slots": _setting("asr_concurrency", "processes"),
        "llm_slots": _setting("llm_concurrency", "processes"),
        "tts_fast_slots": _setting("tts_fast_concurrency", "processes"),
        "prosody_slots": _setting("prosody_concurrency", "processes"),
        "llm_context_tokens": _setting("llm_context_tokens", "tokens"),
        "llm_max_tokens": _setting("llm_max_tokens", "tokens"),
        # the benchmark's set-up, mirrored
        "partial_min_speech_s": _mirror(0.4, "s", "api/audio_stream.py PARTIAL_MIN_SPEECH_MS = 400"),
        "frame_s": _mirror(0.04, "s", "bench/voice.py FRAME_MS = 40 (the VAD sees the silence frame by frame)"),
        "lead_s": _mirror(0.3, "s", "bench/voice.py LEAD_S: 0.3 s of silence before the speech"),
        "silence_after_s": _mirror(1.5, "s", "bench/voice.py SILENCE_AFTER_S = 1.5"),
        "reply_tokens": _mirror(40, "tokens", "models/real_size.py REPLY_TOKENS = 40 (the random LLM's fixed reply)"),
        "asr_tokens_per_s": _mirror(5, "tokens/s", "models/real_size.py ASR_TOKENS_PER_S = 5 (one character each)"),
        "row_prompt_tokens": _mirror(150, "tokens", "the LLM rows' prompt (system prompt + bench.engines QUESTION, "
                                     "chat template) in the random Qwen's tokenizer (models/tiny.py)"),
        "first_prompt_tokens": _mirror(151, "tokens", "a voice turn's prompt with no history (system prompt + "
                                       "the stand-in transcript) in the same tokenizer"),
        "exchange_tokens": _mirror(81, "tokens", "what one earlier exchange (transcript + the stand-in reply) "
                                   "adds to the prompt in the same tokenizer"),
        # assumptions: what no row measures
        "prosody_scale": assumed(1, "share of the row", "a prosody analysis costs the row's CPU time for 10 s of "
                                 "audio whatever the utterance's length (the row measures 10 s; the utterances are "
                                 "~5.7 s: an overstatement of at most ~0.2 s of one core)"),
        "spread": assumed(1, "rule", "each engine call's time is lognormal around its row's median with the row's "
                          "P95 at the 95th percentile (LLM TTFT and tokens/s, ASR at 5 s, lite)"),
    }
    return found | contention_inputs(doc)


__all__ = ["ASR_LENGTHS", "LLM_ROW", "STAND_IN_REPLY", "STAND_IN_TRANSCRIPT", "cpu_inputs",
           "speech_end_s", "turns_per_level", "voice_column"]
