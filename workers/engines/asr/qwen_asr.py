"""Qwen3-ASR (``Qwen/Qwen3-ASR-1.7B`` / ``-0.6B``) through the ``qwen-asr`` package's transformers
backend: CPU float32 by default, GPU bfloat16 when ``asr_device`` is ``cuda`` (or ``auto`` with
one). The package pins transformers 4.57, so this engine runs in the ``qwen-asr`` engine
environment (``avatar engines install qwen-asr``): the asr lane's worker starts there when
``AVATAR_ASR_ENGINE=qwen_asr`` (:mod:`avatar.engine_envs`).

The package loads the folder (``Qwen3ASRModel.from_pretrained``: its registered config, model
and processor classes) and renders the prompt; this adapter runs the model's ``generate``
itself, asking for the logits, because the package's ``transcribe`` returns text only and
the hallucination guard (:func:`workers.transcription.rejection_reason`) needs figures:

- ``avg_logprob``: the mean log-probability of the transcript's tokens (those after the
  model's ``<asr_text>`` tag, and the end token), so ``confidence`` is computed as for Whisper
  (:func:`workers.engines.asr.base.confidence_of`);
- ``no_speech_prob``: Qwen3-ASR starts its answer with ``language X<asr_text>`` and writes
  ``language None`` for audio without speech; the probability it gives ``None`` at that slot
  plays the part of Whisper's no-speech token. With a forced language
  (``AVATAR_QWEN_ASR_LANGUAGE=Chinese``) the prompt already holds the slot: 0, and the guard
  rests on confidence and the known phrases.

The model writes Simplified Chinese for Mandarin: the output goes through the same OpenCC
path as Whisper's (:func:`avatar.text_zh.to_traditional`, ``s2twp``). The package streams only
with vLLM, so live partials are what faster-whisper does: the utterance so far, transcribed
again (with ``asr_partial_model`` when set, e.g. the 0.6B beside a 1.7B).

Models are loaded once per process and per folder; ``availability()`` only checks files.
"""

from __future__ import annotations

import importlib.util
import math
import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from avatar.model_files import missing_qwen_asr_files
from avatar.text_zh import opencc_config_for, to_traditional
from workers.engines.asr.base import SAMPLE_RATE, ASREngine, Transcript, TranscriptSegment, confidence_of
from workers.engines.base import Availability, EngineUnavailable

ENV = "qwen-asr"
INSTALL_FIX = (f"avatar engines install {ENV}, and run the asr lane's worker there "
               "(`avatar up` does with AVATAR_ASR_ENGINE=qwen_asr)")
TORCH_DTYPES = ("float32", "bfloat16", "float16")
# Qwen3-ASR's language names (the package's SUPPORTED_LANGUAGES) as the codes Whisper reports.
LANGUAGE_CODES = {"Chinese": "zh", "Cantonese": "yue", "English": "en", "Japanese": "ja", "Korean": "ko"}
ASR_TEXT_TAG = "<asr_text>"
LANGUAGE_PREFIX = "language"

_LOADED: dict[tuple[str, str, str], Any] = {}
_LOAD_LOCK = threading.Lock()


def _load(path: Path, device: str, dtype_name: str, max_new_tokens: int, threads: int) -> Any:
    key = (str(path), device, dtype_name)
    with _LOAD_LOCK:
        if key not in _LOADED:
            import torch
            from qwen_asr import Qwen3ASRModel

            if device == "cpu" and threads > 0:
                torch.set_num_threads(threads)
            _LOADED[key] = Qwen3ASRModel.from_pretrained(
                str(path), dtype=getattr(torch, dtype_name), device_map=device, local_files_only=True,
                max_new_tokens=max_new_tokens,
            )
        return _LOADED[key]


class QwenASR(ASREngine):
    name: ClassVar[str] = "qwen_asr"

    def _path(self, partial: bool) -> Path:
        if partial and self.settings.asr_partial_model:
            return Path(self.settings.asr_partial_model)
        return Path(self.settings.qwen_asr_model)

    def _device(self) -> str:
        device = self.settings.asr_device
        if device == "auto":
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        return device

    def _dtype(self, device: str) -> str:
        return self.settings.asr_compute_type or ("bfloat16" if device == "cuda" else "float32")

    def _language(self) -> str | None:
        """The forced language in the package's spelling, or None (the model identifies it)."""
        configured = self.settings.qwen_asr_language.strip()
        return configured[:1].upper() + configured[1:].lower() if configured else None

    def availability(self) -> Availability:
        if importlib.util.find_spec("qwen_asr") is None:  # found, not imported: /health stays cheap
            return Availability(False, "the qwen-asr package is not installed in this environment (it pins "
                                "transformers 4.57 and lives in engine environment 'qwen-asr')", INSTALL_FIX)
        compute_type = self.settings.asr_compute_type
        if compute_type and compute_type not in TORCH_DTYPES:
            return Availability(False, f"AVATAR_ASR_COMPUTE_TYPE={compute_type!r} is not a torch dtype the "
                                "qwen_asr engine runs in", f"set it to one of {', '.join(TORCH_DTYPES)}, or empty")
        for partial in (False, True) if self.settings.asr_partial_model else (False,):
            missing = missing_qwen_asr_files(self._path(partial))
            if missing:
                return Availability(False, f"no Qwen3-ASR model at {self._path(partial)} "
                                    f"(missing {', '.join(missing)})", self._weights_fix())
        return Availability(True)

    def _weights_fix(self, *, rebuild: bool = False) -> str:
        if self.settings.profile.startswith("tiny"):
            return "avatar models tiny --force" if rebuild else "avatar models tiny"
        return "avatar models pull --profile qwen-asr"

    def _loaded(self, partial: bool) -> Any:
        device = self._device()
        path = self._path(partial)
        try:
            return _load(path, device, self._dtype(device), self.settings.qwen_asr_max_new_tokens,
                         self.settings.asr_cpu_threads)
        except Exception as exc:  # safetensors, transformers and torch each raise their own types
            raise EngineUnavailable(self.name, f"cannot load the Qwen3-ASR checkpoint at {path}: "
                                    f"{type(exc).__name__}: {exc}", self._weights_fix(rebuild=True)) from exc

    def warm_up(self) -> bool:
        if not self.availability().ok:
            return False
        self._loaded(partial=False)
        if self.settings.asr_partial_model:
            self._loaded(partial=True)
        return True

    def transcribe(self, samples: np.ndarray, *, partial: bool = False) -> Transcript:
        availability = self.availability()
        if not availability.ok:
            raise EngineUnavailable(self.name, availability.reason, availability.fix)
        model = self._loaded(partial)
        forced = self._language()
        if forced is not None and forced not in _supported_languages():
            raise EngineUnavailable(self.name, f"Qwen3-ASR does not know the language {forced!r}",
                                    "set AVATAR_QWEN_ASR_LANGUAGE to one it lists (e.g. Chinese), or empty")
        audio = np.ascontiguousarray(samples, dtype=np.float32)
        duration_s = len(audio) / SAMPLE_RATE
        language, text, avg_logprob, no_speech = self.decode(model, _at_least_min_length(audio))
        text = to_traditional(text, opencc_config_for(self._path(partial), self.settings.asr_opencc_config))
        segments = [TranscriptSegment(start_s=0.0, end_s=duration_s, text=text, avg_logprob=avg_logprob,
                                      no_speech_prob=no_speech)] if text else []
        return Transcript(
            text=text,
            confidence=confidence_of(segments),
            no_speech_prob=no_speech if text else 1.0,  # as Whisper's: nothing written, nothing heard
            language=LANGUAGE_CODES.get(language, language.lower()),
            duration_s=duration_s,
            segments=segments,
        )

    def decode(self, model: Any, audio: np.ndarray) -> tuple[str, str, float, float]:
        """One greedy pass: ``(language, text, avg_logprob, no_speech_prob)``, text as the model
        wrote it (before OpenCC)."""
        import torch
        from qwen_asr import parse_asr_output

        forced = self._language()
        processor = model.processor
        # The package's own prompt: ChatML with the context as system turn, the audio as user turn,
        # and with a forced language "language X<asr_text>" already in the answer.
        prompt = model._build_text_prompt(context=self.settings.qwen_asr_context, force_language=forced)
        inputs = processor(text=[prompt], audio=[audio], return_tensors="pt", padding=True)
        inputs = inputs.to(model.model.device).to(model.model.dtype)
        tokenizer = processor.tokenizer
        eos = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
        with torch.inference_mode():
            out = model.model.generate(
                **inputs, max_new_tokens=self.settings.qwen_asr_max_new_tokens, eos_token_id=eos,
                do_sample=False, num_beams=1, output_logits=True,
            )
        ids = out.sequences[0, inputs["input_ids"].shape[1]:].tolist()
        raw = processor.batch_decode([ids], skip_special_tokens=True, clean_up_tokenization_spaces=False)[0]
        language, text = parse_asr_output(raw, user_language=forced)
        if not ids:
            return language, text, -math.inf, 1.0

        def logprobs(step: int) -> Any:  # one step at a time: a vocabulary of 152k per step adds up
            return torch.log_softmax(out.logits[step][0].float(), dim=-1)

        tag = tokenizer.convert_tokens_to_ids(ASR_TEXT_TAG)
        start = ids.index(tag) + 1 if tag in ids[:-1] else 0
        picked = [float(logprobs(i)[t]) for i, t in enumerate(ids) if i >= start]
        no_speech = 0.0 if forced else no_speech_prob(tokenizer, ids, logprobs)
        return language, text, sum(picked) / len(picked), no_speech


def no_speech_prob(tokenizer: Any, ids: list[int], logprobs: Any) -> float:
    """The probability the model gave ``None`` where its answer names the language (its own
    "no speech here"); 0 when the answer does not start with its language tag. ``logprobs(step)``:
    the log-probabilities over the vocabulary at that step of the answer."""
    prefix = tokenizer.encode(LANGUAGE_PREFIX, add_special_tokens=False)
    with_none = tokenizer.encode(f"{LANGUAGE_PREFIX} None", add_special_tokens=False)
    slot = len(prefix)
    if with_none[:slot] != prefix or len(with_none) <= slot or ids[:slot] != prefix or len(ids) <= slot:
        return 0.0
    return round(math.exp(float(logprobs(slot)[with_none[slot]])), 4)


def _at_least_min_length(audio: np.ndarray) -> np.ndarray:
    """Zero-padded to the package's shortest input (its own chunker pads the same way)."""
    from qwen_asr.inference.utils import MIN_ASR_INPUT_SECONDS

    shortest = int(MIN_ASR_INPUT_SECONDS * SAMPLE_RATE)
    return np.pad(audio, (0, shortest - len(audio))) if len(audio) < shortest else audio


def _supported_languages() -> list[str]:
    from qwen_asr.inference.utils import SUPPORTED_LANGUAGES

    return list(SUPPORTED_LANGUAGES)
