"""Pipecat's websocket wire format, as its ``ProtobufFrameSerializer`` writes it, for the
benchmark client: the few messages of ``pipecat/frames/frames.proto`` it sends and reads.

Encoded and decoded by hand (the protobuf wire format is small) so the client runs in the main
environment, which has no Pipecat::

    message Frame { oneof frame { TextFrame text = 1; AudioRawFrame audio = 2;
                                  TranscriptionFrame transcription = 3; MessageFrame message = 4;
                                  InterruptionFrame interruption = 5; } }
    TranscriptionFrame { uint64 id = 1; string name = 2; string text = 3; string user_id = 4;
                         string timestamp = 5; }
    AudioRawFrame      { ...; bytes audio = 3; uint32 sample_rate = 4; uint32 num_channels = 5; ... }
    MessageFrame       { string data = 1; }   # JSON
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

FRAME_TEXT, FRAME_AUDIO, FRAME_TRANSCRIPTION, FRAME_MESSAGE, FRAME_INTERRUPTION = 1, 2, 3, 4, 5
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | _LEN) + _varint(len(payload)) + payload


def transcription(text: str, user_id: str = "bench") -> bytes:
    """A ``Frame`` holding a ``TranscriptionFrame``: the user's finished message."""
    inner = _field(3, text.encode()) + _field(4, user_id.encode())
    return _field(FRAME_TRANSCRIPTION, inner)


def _fields(data: bytes) -> dict[int, Any]:
    """Top-level fields of one message: length-delimited ones as bytes, varints as ints."""
    out: dict[int, Any] = {}
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        number, kind = key >> 3, key & 7
        if kind == _VARINT:
            out[number], pos = _read_varint(data, pos)
        elif kind == _LEN:
            size, pos = _read_varint(data, pos)
            out[number], pos = data[pos: pos + size], pos + size
        elif kind == _FIXED64:
            pos += 8
        elif kind == _FIXED32:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
    return out


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


@dataclass(frozen=True)
class Received:
    kind: int  # FRAME_AUDIO, FRAME_MESSAGE, ...
    audio_bytes: int = 0
    sample_rate: int = 0
    message: Any = None


def decode(data: bytes) -> Received:
    """One websocket message from Pipecat's serializer."""
    outer = _fields(data)
    if not outer:
        raise ValueError("empty frame")
    kind, body = next(iter(outer.items()))
    inner = _fields(body) if isinstance(body, bytes) else {}
    if kind == FRAME_AUDIO:
        return Received(kind, audio_bytes=len(inner.get(3, b"")), sample_rate=int(inner.get(4, 0)))
    if kind == FRAME_MESSAGE:
        return Received(kind, message=json.loads(inner.get(1, b"null").decode()))
    return Received(kind)
