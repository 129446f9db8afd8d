"""Pipecat's own sentence aggregation on given replies (runs in the Pipecat environment).

Reads a JSON list of replies on stdin, streams each through a fresh ``SimpleTextAggregator``
(language ``zh``, as the peer server's TTS service uses it) in two-character deltas, as the
benchmark LLM streams them, flushes it at the end of the reply, and prints a JSON list of the
cuts: one list of sentences per reply, in the order the TTS service would speak them.
"""

from __future__ import annotations

import asyncio
import json
import sys

from pipecat.utils.string import resolve_sentence_tokenizer_language
from pipecat.utils.text.simple_text_aggregator import SimpleTextAggregator


async def cuts(reply: str) -> list[str]:
    aggregator = SimpleTextAggregator(language=resolve_sentence_tokenizer_language("zh"))
    sentences: list[str] = []
    for index in range(0, len(reply), 2):
        async for aggregation in aggregator.aggregate(reply[index: index + 2]):
            sentences.append(aggregation.text)
    tail = await aggregator.flush()
    if tail is not None and tail.text:
        sentences.append(tail.text)
    return sentences


async def main() -> None:
    replies = json.load(sys.stdin)
    print(json.dumps([await cuts(reply) for reply in replies], ensure_ascii=False))


if __name__ == "__main__":
    asyncio.run(main())
