"""The peer under test: a Pipecat 1.14 voice pipeline with engines that behave exactly like
AVATAR's deterministic benchmark engines, behind Pipecat's own websocket transport.

Runs in its own environment (``avatar engines install pipecat``), started by
``python -m bench.peer``; imports only Pipecat, what Pipecat's environment has, and the
standard library, so nothing of AVATAR's is in the way of either system.

One pipeline per websocket connection (Pipecat's ``FastAPIWebsocketTransport``, its
``ProtobufFrameSerializer``, served by uvicorn), so sessions are independent, as AVATAR's are::

    transport.input() -> UserTextToContext -> BenchmarkLLMService -> BenchmarkTTSService
        -> ReplyEndMarker -> transport.output() -> the assistant context aggregator

- The client sends its message as a protobuf ``TranscriptionFrame``: a finished user turn, as
  AVATAR's typed ``user_message`` is, so neither system runs voice activity or turn detection.
  :class:`UserTextToContext` appends it to the conversation's ``LLMContext`` and asks for a
  reply with an ``LLMContextFrame``, which is what Pipecat's user aggregator does at turn end.
- :class:`BenchmarkLLMService` streams ``--reply`` two characters a token, the first after
  ``--first-token-ms``, then one every ``--token-delay-ms`` (AVATAR's ``BenchmarkLLM``; its
  settings are passed on the command line by ``bench.peer``, read from AVATAR's settings).
- Pipecat's own sentence aggregation (the TTS service's ``SimpleTextAggregator``, language
  ``zh``) cuts the reply; :class:`BenchmarkTTSService` sleeps ``--tts-ms`` per sentence and
  returns 0.2 s of 16 kHz audio per character, at least 0.2 s (AVATAR's ``BenchmarkTTS``).
- The output transport sends the audio to the client in Pipecat's 40 ms chunks, paced as its
  transport paces them. :class:`ReplyEndMarker` counts the reply's audio and, after its last
  chunk, sends a transport message ``{"type": "reply-audio-complete", "audio_ms": ...}`` (it
  travels through the same ordered queue as the audio), so the client knows when the reply
  ends and how long it plays.

Usage (inside the Pipecat environment)::

    python bench/peer_pipecat_server.py --port 8765 --reply 好的。... [--first-token-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

# Pipecat reads these when its modules load: no usage reporting, logs at warnings only.
os.environ.setdefault("PIPECAT_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import uvicorn  # noqa: E402
from fastapi import FastAPI, WebSocket  # noqa: E402
from loguru import logger  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    Frame,
    LLMContextFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    OutputTransportMessageFrame,
    TranscriptionFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.aggregators.llm_context import LLMContext  # noqa: E402
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.serializers.protobuf import ProtobufFrameSerializer  # noqa: E402
from pipecat.services.llm_service import LLMService  # noqa: E402
from pipecat.services.settings import LLMSettings, TTSSettings  # noqa: E402
from pipecat.services.tts_service import TTSService  # noqa: E402
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

SAMPLE_RATE = 16000  # AVATAR's BenchmarkTTS writes 16 kHz mono
REPLY_END = "reply-audio-complete"


class EngineTimes:
    """The benchmark engines' behaviour, given by ``bench.peer`` from AVATAR's settings."""

    def __init__(self, reply: str, first_token_ms: float, token_delay_ms: float, tts_ms: float,
                 max_tokens: int) -> None:
        self.reply, self.max_tokens = reply, max_tokens
        self.first_token_s, self.token_delay_s = first_token_ms / 1000.0, token_delay_ms / 1000.0
        self.tts_s = tts_ms / 1000.0


class UserTextToContext(FrameProcessor):
    """A client's finished message (a ``TranscriptionFrame``) becomes a user message in the
    conversation and a request for a reply: what Pipecat's user aggregator pushes at turn end."""

    def __init__(self, context: LLMContext) -> None:
        super().__init__()
        self._context = context

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame) and direction == FrameDirection.DOWNSTREAM:
            self._context.add_message({"role": "user", "content": frame.text})
            await self.push_frame(LLMContextFrame(context=self._context))
        else:
            await self.push_frame(frame, direction)


class BenchmarkLLMService(LLMService):
    """AVATAR's ``BenchmarkLLM`` as a Pipecat LLM service: the same tokens at the same times."""

    def __init__(self, engine: EngineTimes, **kwargs) -> None:
        # Every setting is declared, as Pipecat asks: none applies to a fixed reply.
        settings = LLMSettings(
            model=None, system_instruction=None, temperature=None, max_tokens=engine.max_tokens,
            top_p=None, top_k=None, frequency_penalty=None, presence_penalty=None, seed=None,
            filter_incomplete_user_turns=None, user_turn_completion_config=None)
        super().__init__(settings=settings, **kwargs)
        self._engine = engine

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMContextFrame):
            await self._stream_reply()
        else:
            await self.push_frame(frame, direction)

    async def _stream_reply(self) -> None:
        engine = self._engine
        await self.push_frame(LLMFullResponseStartFrame())
        await asyncio.sleep(engine.first_token_s)
        for index in range(0, min(len(engine.reply), 2 * engine.max_tokens), 2):  # two characters a token
            if index:
                await asyncio.sleep(engine.token_delay_s)
            await self.push_frame(LLMTextFrame(engine.reply[index: index + 2]))
        await self.push_frame(LLMFullResponseEndFrame())


class BenchmarkTTSService(TTSService):
    """AVATAR's ``BenchmarkTTS`` as a Pipecat TTS service: a fixed compute time per sentence,
    then 0.2 s of audio per character (at least 0.2 s)."""

    def __init__(self, engine: EngineTimes, **kwargs) -> None:
        super().__init__(push_start_frame=True, push_stop_frames=True, sample_rate=SAMPLE_RATE,
                         settings=TTSSettings(model=None, voice=None, language="zh"), **kwargs)
        self._engine = engine

    def can_generate_metrics(self) -> bool:
        return False

    async def run_tts(self, text: str, context_id: str):
        await asyncio.sleep(self._engine.tts_s)
        seconds = max(0.2, 0.2 * len(text.strip()))
        samples = int(seconds * SAMPLE_RATE)
        yield TTSAudioRawFrame(audio=_tone(samples), sample_rate=SAMPLE_RATE, num_channels=1,
                               context_id=context_id)


def _tone(samples: int) -> bytes:
    """``samples`` of AVATAR's benchmark tone (220 Hz at 0.1 amplitude), computed the same way,
    as 16-bit little-endian mono PCM (AVATAR encodes the same samples into its WAV)."""
    t = np.arange(samples, dtype=np.float32) / SAMPLE_RATE
    return (0.1 * np.sin(2 * np.pi * 220.0 * t) * 32767).astype("<i2").tobytes()


class ReplyEndMarker(FrameProcessor):
    """Counts the reply's audio; after its last chunk, tells the client the reply ended."""

    def __init__(self) -> None:
        super().__init__()
        self._audio_bytes = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self._audio_bytes += len(frame.audio)
        await self.push_frame(frame, direction)
        if isinstance(frame, LLMFullResponseEndFrame) and direction == FrameDirection.DOWNSTREAM:
            audio_ms = self._audio_bytes / (2 * SAMPLE_RATE) * 1000.0
            self._audio_bytes = 0
            # Not urgent: it queues behind the reply's audio in the output transport.
            await self.push_frame(OutputTransportMessageFrame(
                message={"type": REPLY_END, "audio_ms": round(audio_ms, 1)}))


def build_app(engine: EngineTimes) -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.websocket("/ws")
    async def session(websocket: WebSocket) -> None:
        await websocket.accept()
        transport = FastAPIWebsocketTransport(websocket, FastAPIWebsocketParams(
            audio_in_enabled=False, audio_out_enabled=True, audio_out_sample_rate=SAMPLE_RATE,
            serializer=ProtobufFrameSerializer(), allowed_origins=[],
        ))
        context = LLMContext()
        aggregators = LLMContextAggregatorPair(context)
        pipeline = Pipeline([
            transport.input(), UserTextToContext(context), BenchmarkLLMService(engine),
            BenchmarkTTSService(engine), ReplyEndMarker(), transport.output(), aggregators.assistant(),
        ])
        worker = PipelineWorker(pipeline, params=PipelineParams(
            audio_in_sample_rate=SAMPLE_RATE, audio_out_sample_rate=SAMPLE_RATE))

        @transport.event_handler("on_client_disconnected")
        async def on_client_disconnected(transport, websocket) -> None:
            await worker.cancel()

        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        await runner.run()

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--host", default="127.0.0.1")
    add("--port", type=int, required=True)
    add("--reply", required=True)
    add("--first-token-ms", type=float, default=20.0)
    add("--token-delay-ms", type=float, default=2.0)
    add("--tts-ms", type=float, default=30.0)
    add("--max-tokens", type=int, default=512)
    add("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level=args.log_level)
    engine = EngineTimes(args.reply, args.first_token_ms, args.token_delay_ms, args.tts_ms, args.max_tokens)
    uvicorn.run(build_app(engine), host=args.host, port=args.port, log_level="warning",
                ws="websockets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
