"""The reply's tokens on their way to the browser, without the generation waiting for Redis.

Each token is one ``llm_token`` event. Published inline, every token would hold the generation
loop for a Redis round trip (on a busy machine, a wake-up of Redis and of the worker each), and
the tokens before the first sentence is cut sit on the path to first audio. A
:class:`TokenStream` hands them to one thread of its own that publishes them in order, all
those waiting in one pipeline, and reads back with each batch whether the turn was
interrupted (barge-in), so the loop learns of it within a round trip, as it did inline.

:meth:`TokenStream.close` waits until every token is published (and raises what publishing
raised): the reply's ``turn_complete`` follows its last token.
"""

from __future__ import annotations

import queue
import threading

from avatar.turns import TurnState

_END = object()


class TokenStream:
    def __init__(self, state: TurnState, channel: str) -> None:
        self.state = state
        self.channel = channel
        self.interrupted = False  # as of the last batch published
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._publish, name="llm-tokens", daemon=True)
        self._thread.start()

    def put(self, message: str, *, first_token_ms: float | None = None) -> None:
        """Queue one event message (built by :meth:`avatar.events.Emitter.packet`);
        ``first_token_ms``: the first token's latency mark, recorded with it."""
        if self._error is not None:
            raise self._error
        self._queue.put((message, first_token_ms))

    def close(self, *, quietly: bool = False) -> None:
        """Wait until every queued token is published; raise what publishing raised unless
        ``quietly`` (the generation already failed: its own error is the one to report)."""
        self._queue.put(_END)
        self._thread.join()
        if self._error is not None and not quietly:
            raise self._error

    def _publish(self) -> None:
        done = False
        while not done:
            batch = [self._queue.get()]
            while True:  # everything already waiting goes in the same round trip
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            if batch[-1] is _END:
                batch.pop()
                done = True
            if not batch or self._error is not None:
                continue
            try:
                self.interrupted = self.state.publish(self.channel, batch)  # type: ignore[arg-type]
            except BaseException as exc:  # raised in the generation loop by put() or close()
                self._error = exc
