"""LLM behind an OpenAI-compatible streaming server: vLLM (the GPU profile), llama.cpp's
server, Ollama or ``transformers serve``.

The official ``openai`` client does the HTTP/SSE work. Its retries are switched off
(``max_retries=0``): a retry is the Celery task's decision, made on TransientEngineError,
so this engine only sorts failures into "retry later" (server down, overloaded, dropped
mid-reply), "cannot run" (model not served) and plain errors (a bad request).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
import openai

from workers.engines.base import Availability, EngineUnavailable, TransientEngineError
from workers.engines.llm.base import ChatMessage, LLMEngine

_AVAILABILITY_TIMEOUT_S = 2.0


class OpenAICompatLLM(LLMEngine):
    name: ClassVar[str] = "openai"

    _client: openai.OpenAI | None = None

    @property
    def base_url(self) -> str:
        return self.settings.llm_base_url.rstrip("/")

    def _fix_hint(self) -> str:
        if self.settings.vllm_serve:  # `avatar up` runs vLLM itself (the tiny-gpu profile)
            return (f"avatar up starts vLLM (program vllm, log {self.settings.log_dir}/vllm.log); "
                    "build its environment first: avatar engines install vllm")
        port = urlsplit(self.base_url).port or 8001
        return (
            f"start vLLM: vllm serve {self.settings.llm_model} --port {port} "
            f"--max-model-len {self.settings.llm_context_tokens} "
            "(or point AVATAR_LLM_BASE_URL at a running OpenAI-compatible server)"
        )

    @property
    def client(self) -> openai.OpenAI:
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self.base_url,
                api_key=self.settings.llm_api_key,
                timeout=self.settings.llm_timeout_s,
                max_retries=0,
            )
        return self._client

    def availability(self) -> Availability:
        """Ask ``GET {base_url}/models`` (2 s timeout) whether the server runs and serves our model."""
        try:
            response = httpx.get(
                f"{self.base_url}/models",
                headers={"Authorization": f"Bearer {self.settings.llm_api_key}"},
                timeout=_AVAILABILITY_TIMEOUT_S,
            )
        except httpx.HTTPError as exc:
            return Availability(
                ok=False,
                reason=f"LLM server unreachable at {self.base_url} ({type(exc).__name__})",
                fix=self._fix_hint(),
            )
        if response.status_code != 200:
            return Availability(
                ok=False,
                reason=f"LLM server at {self.base_url} answered {response.status_code} to GET /models",
                fix=self._fix_hint(),
            )
        try:
            served = [str(m.get("id")) for m in response.json().get("data", [])]
        except (ValueError, AttributeError):
            return Availability(
                ok=False, reason=f"{self.base_url}/models is not an OpenAI model list", fix=self._fix_hint()
            )
        if self.settings.llm_model not in served:
            return Availability(
                ok=False,
                reason=f"model {self.settings.llm_model!r} not served at {self.base_url} "
                f"(serves: {', '.join(served) or 'nothing'})",
                fix=self._fix_hint(),
            )
        return Availability(ok=True)

    def stream(self, messages: list[ChatMessage], *, max_tokens: int | None = None) -> Iterator[str]:
        """Yield each non-empty ``choices[0].delta.content`` of a streamed chat completion."""
        try:
            response = self.client.chat.completions.create(
                model=self.settings.llm_model,
                messages=list(messages),  # type: ignore[arg-type]
                stream=True,
                max_tokens=max_tokens or self.settings.llm_max_tokens,
                temperature=self.settings.llm_temperature,
            )
            with response:  # closes the HTTP response if the consumer stops early
                for chunk in response:
                    if chunk.choices and chunk.choices[0].delta.content:
                        yield chunk.choices[0].delta.content
        except openai.NotFoundError as exc:
            raise EngineUnavailable(
                self.name, f"model {self.settings.llm_model!r} not found: {_server_message(exc)}", self._fix_hint()
            ) from exc
        except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
            # APITimeoutError is an APIConnectionError; InternalServerError is every 5xx.
            raise TransientEngineError(f"{self.name}: {type(exc).__name__}: {_server_message(exc)}") from exc
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise TransientEngineError(f"{self.name}: HTTP {exc.status_code}: {_server_message(exc)}") from exc
            raise RuntimeError(f"{self.name}: HTTP {exc.status_code}: {_server_message(exc)}") from exc
        except openai.APIError as exc:
            # An error event inside the SSE stream: the server failed while generating.
            raise TransientEngineError(f"{self.name}: server error mid-stream: {exc}") from exc
        except httpx.TransportError as exc:
            # The server went away while streaming (connection reset, incomplete body, read
            # timeout): httpx raises these from the response iterator, unwrapped by openai.
            raise TransientEngineError(f"{self.name}: stream interrupted: {type(exc).__name__}: {exc}") from exc


def _server_message(exc: openai.APIError) -> str:
    """The server's own error text when it sent JSON (OpenAI, vLLM, FastAPI shapes), else str(exc)."""
    body = exc.body
    if isinstance(body, dict):
        for key in ("message", "detail", "error"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message")
            if value:
                return str(value)
    return exc.message or str(exc)
