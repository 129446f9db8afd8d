"""In-process Hugging Face chat model: the LLM for CPU-only hosts and the ``tiny`` profile.

Runs e.g. Qwen2.5-0.5B/1.5B-Instruct from a local directory (``avatar models download``)
or the tiny random model (``avatar models tiny``); never touches the network.

torch and transformers are the optional ``avatar[local-llm]`` extra, so they are imported
only when the engine actually loads; ``availability()`` reports a missing install instead
of the module failing to import.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from workers.engines.base import Availability, EngineUnavailable
from workers.engines.llm.base import ChatMessage, LLMEngine
from avatar.model_files import INSTALL_HINT, RandomWeights, missing_llm_files, random_weights

# How long the consumer waits for the next piece of text before giving up on a stalled
# generation thread. Generous: a 1.5B model on a slow CPU can take seconds per token.
_TOKEN_TIMEOUT_S = 120.0

# One loaded (model, tokenizer) per directory per process: Celery prefork workers keep
# the engine alive between tasks, and several engine instances must not load twice.
_LOADED: dict[Path, tuple[Any, Any]] = {}
_LOAD_LOCK = threading.Lock()


def _import_backend() -> tuple[Any, Any]:
    """(torch, transformers), or EngineUnavailable with the install hint."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise EngineUnavailable(
            TransformersLLM.name, f"torch/transformers not installed ({exc.name})", INSTALL_HINT
        ) from exc
    return torch, transformers


def cpu_threads(settings: Any) -> int:
    """torch threads for this process's generations: ``llm_cpu_threads``, or else the lane's
    share of the usable cores (at least one). Every ``llm`` prefork child generates on its own,
    and torch's default gives each child every core: two children on two cores, beside the
    API and the speech workers, then fight for the CPU. Measured on the 2-core development
    machine under load (docs/benchmarks.md, "Typed turns, several sessions"): a tiny model's
    48-token reply took 1.1-2.1 s with 2 threads and 0.05-0.16 s with 1; Qwen2.5-0.5B's
    40 tokens (random weights, real size) 39-66 s against 8-13 s."""
    if settings.llm_cpu_threads:
        return int(settings.llm_cpu_threads)
    return max(1, len(os.sched_getaffinity(0)) // max(1, int(settings.llm_concurrency)))


def _load(model_dir: Path, threads: int) -> tuple[Any, Any]:
    """Load model + tokenizer from a local directory once per process (thread-safe)."""
    with _LOAD_LOCK:
        if model_dir not in _LOADED:
            torch, transformers = _import_backend()
            torch.set_num_threads(threads)  # process-wide: this process serves the llm lane
            tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                model_dir, local_files_only=True, dtype="auto"
            )
            model.eval()
            _LOADED[model_dir] = (model, tokenizer)
        return _LOADED[model_dir]


class TransformersLLM(LLMEngine):
    name: ClassVar[str] = "transformers"

    @property
    def model_dir(self) -> Path:
        return Path(self.settings.llm_model).expanduser().resolve()

    def _fix_hint(self) -> str:
        return "avatar models tiny" if self.settings.profile == "tiny" else "avatar models download llm"

    def availability(self) -> Availability:
        """Weights on disk and the optional packages importable; loads nothing."""
        missing = missing_llm_files(self.model_dir)
        if missing:
            detail = "" if missing == ["directory"] else f" (missing {', '.join(missing)})"
            return Availability(ok=False, reason=f"no weights at {self.model_dir}{detail}", fix=self._fix_hint())
        try:
            _import_backend()
        except EngineUnavailable as exc:
            return Availability(ok=False, reason=exc.reason, fix=exc.fix)
        return Availability(ok=True)

    def warm_up(self) -> bool:
        if not self.availability().ok:
            return False
        _load(self.model_dir, cpu_threads(self.settings))
        return True

    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None) -> Iterator[str]:
        """Generate in a background thread and yield text deltas as the streamer releases them.

        Closing the generator early (client gone, turn cancelled) sets a stop flag that
        the generation loop checks after every token, and the thread is joined, so no
        orphan generation keeps a CPU busy.
        """
        check = self.availability()
        if not check.ok:
            raise EngineUnavailable(self.name, check.reason, check.fix)
        torch, transformers = _import_backend()
        model, tokenizer = _load(self.model_dir, cpu_threads(self.settings))

        inputs = tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        eos_ids = _stop_token_ids(tokenizer, model)
        temperature = self.settings.llm_temperature
        sampling: dict[str, Any] = (
            {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
        )
        if not sampling["do_sample"]:
            # The checkpoint's sampling defaults would only produce "ignored flag" warnings.
            sampling.update(temperature=None, top_p=None, top_k=None)

        stop = threading.Event()
        new_tokens: dict[str, int] = {"max_new_tokens": max_tokens or self.settings.llm_max_tokens}
        stand_in = random_weights(self.model_dir)
        if stand_in is not None and stand_in.reply_tokens:  # a real-size random model: see RandomWeights
            count = min(new_tokens["max_new_tokens"], stand_in.reply_tokens)
            new_tokens = {"max_new_tokens": count, "min_new_tokens": count}
            streamer: Any = _StandInStreamer(stand_in, count)
        else:
            streamer = transformers.TextIteratorStreamer(
                tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=_TOKEN_TIMEOUT_S
            )
        errors: list[BaseException] = []

        def generate() -> None:
            try:
                with torch.inference_mode():
                    model.generate(
                        **inputs,
                        **new_tokens,
                        eos_token_id=eos_ids,
                        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0],
                        streamer=streamer,
                        stopping_criteria=transformers.StoppingCriteriaList([_StopOnEvent(stop)]),
                        **sampling,
                    )
            except BaseException as exc:  # re-raised in the consumer below
                errors.append(exc)
                streamer.end()  # wake the consumer instead of letting it wait for the timeout

        thread = threading.Thread(target=generate, name="llm-generate", daemon=True)
        thread.start()
        try:
            for delta in streamer:
                if delta:
                    yield delta
            if errors:
                raise RuntimeError(f"{self.name}: generation failed: {errors[0]!r}") from errors[0]
        finally:
            stop.set()
            thread.join()


class _StandInStreamer:
    """The streamer for a real-size random model: one piece of its declared stand-in text per
    token it decoded (the weights' own text is noise; :class:`RandomWeights` says why)."""

    def __init__(self, stand_in: RandomWeights, count: int) -> None:
        self._pieces = iter(stand_in.pieces(count))
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() hands the prompt over first
            self._prompt_seen = True
            return
        for _ in range(int(value.numel())):
            self._queue.put(next(self._pieces, ""))

    def end(self) -> None:
        self._queue.put(None)

    def __iter__(self) -> Iterator[str]:
        while (piece := self._queue.get(timeout=_TOKEN_TIMEOUT_S)) is not None:
            yield piece


class _StopOnEvent:
    """StoppingCriteria: end generation once the consumer has gone away."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool, device=input_ids.device)


def _stop_token_ids(tokenizer: Any, model: Any) -> list[int]:
    """Every id that ends a reply: the checkpoint's eos ids plus <|im_end|> (ChatML)."""
    ids: list[int] = []
    configured = model.generation_config.eos_token_id
    for value in configured if isinstance(configured, list) else [configured]:
        if value is not None:
            ids.append(int(value))
    for token in ("<|im_end|>", tokenizer.eos_token):
        token_id = tokenizer.convert_tokens_to_ids(token) if token else None
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id:
            ids.append(token_id)
    return list(dict.fromkeys(ids))
