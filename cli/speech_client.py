"""A terminal client that talks instead of typing (``avatar talk FILE``): streams a WAV file
to the API as real-time-paced microphone frames and prints what comes back."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import socketio

from avatar.audio import decode_wav
from cli.chat_client import owner_headers

SAMPLE_RATE = 16_000


def load_16k_pcm(path: Path) -> np.ndarray:
    """Any WAV/FLAC soundfile reads, as mono PCM16 at 16 kHz (linear resampling)."""
    samples, sr = decode_wav(Path(path).read_bytes())
    if sr != SAMPLE_RATE:
        n = int(round(len(samples) * SAMPLE_RATE / sr))
        samples = np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples)
    return (np.clip(samples, -1, 1) * 32767).astype(np.int16)


async def talk_once(base_url: str, wav: Path, *, frame_ms: int = 40, timeout: float = 300) -> dict[str, Any]:
    pcm = np.concatenate([load_16k_pcm(wav), np.zeros(SAMPLE_RATE, np.int16)])  # then a second of silence
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        created = (await http.post("/api/v1/sessions", headers=await owner_headers(http))).raise_for_status().json()
    result: dict[str, Any] = {"session_id": created["session_id"], "events": [], "errors": []}
    done = asyncio.Event()
    turn_ids: set[str] = set()
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("*")
    async def on_any(event: str, data: Any = None) -> None:
        shown = {k: v for k, v in data.items() if k != "audio"} if isinstance(data, dict) else data
        result["events"].append((event, shown))
        if event != "llm_token":
            print(f"[{event}] {shown}")
        if event == "transcription_final":
            turn_ids.add(data["turn_id"])
        if event == "error":
            result["errors"].append(data)
        if event == "turn_audio_complete" and data.get("turn_id") in turn_ids:
            done.set()
        if event in ("transcription_rejected",) or (event == "error" and not data.get("seq")):
            done.set()

    await sio.connect(base_url, auth={"session_id": created["session_id"], "token": created["token"]},
                      transports=["websocket"])
    try:
        step = SAMPLE_RATE * frame_ms // 1000
        started = time.monotonic()
        for index, offset in enumerate(range(0, len(pcm), step)):
            await sio.emit("audio_chunk", pcm[offset:offset + step].tobytes())
            await asyncio.sleep(max(0.0, started + (index + 1) * frame_ms / 1000 - time.monotonic()))
        await sio.call("audio_end", {}, timeout=10)
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sio.disconnect()
    return result
