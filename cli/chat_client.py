"""A terminal client for one typed turn (``avatar chat``): creates an owner and a session,
connects over Socket.IO, sends the message and prints the streamed reply and the audio chunks."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import socketio


async def owner_headers(http: httpx.AsyncClient, base_url: str = "") -> dict[str, str]:
    """A new owner's ``Authorization`` header: a terminal client keeps no credential between
    runs, so each run's sessions are its own (the operator still sees them)."""
    created = (await http.post(f"{base_url}/api/v1/owners")).raise_for_status().json()
    return {"Authorization": f"Bearer {created['owner_token']}"}


async def chat_once(base_url: str, text: str, *, save_dir: Path | None = None, timeout: float = 300) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        created = (await http.post("/api/v1/sessions", headers=await owner_headers(http))).raise_for_status().json()
    done = asyncio.Event()
    result: dict[str, Any] = {"session_id": created["session_id"], "chunks": [], "errors": []}
    sio = socketio.AsyncClient(reconnection=False)

    @sio.on("llm_token")
    async def on_token(data: dict[str, Any]) -> None:
        sys.stdout.write(data["token"])
        sys.stdout.flush()

    @sio.on("turn_complete")
    async def on_complete(data: dict[str, Any]) -> None:
        result["text"] = data["text"]
        sys.stdout.write(f"\n[reply complete: {data['chunks']} sentence(s) to speak]\n")
        if not data["chunks"]:
            done.set()

    @sio.on("audio_chunk")
    async def on_audio(data: dict[str, Any]) -> None:
        result["chunks"].append({k: v for k, v in data.items() if k != "audio"})
        line = f"[audio seq={data['seq']} {data['duration_ms']:.0f} ms, {len(data['audio'])} bytes: {data.get('text', '')}]"
        if save_dir is not None:
            save_dir.mkdir(parents=True, exist_ok=True)
            path = save_dir / f"{data['turn_id']}_{data['seq']:03d}.wav"
            path.write_bytes(data["audio"])
            line += f" -> {path}"
        print(line)

    @sio.on("turn_audio_complete")
    async def on_audio_done(data: dict[str, Any]) -> None:
        result["latency"] = data.get("latency", {})
        print(f"[turn done; latency ms: {result['latency']}]")
        done.set()

    @sio.on("error")
    async def on_error(data: dict[str, Any]) -> None:
        result["errors"].append(data)
        print(f"[error {data.get('code')}: {data.get('message')}" + (f" -> {data['fix']}" if data.get("fix") else "") + "]")
        if data.get("seq") is None:
            done.set()

    await sio.connect(base_url, auth={"session_id": created["session_id"], "token": created["token"]},
                      transports=["websocket"])
    try:
        ack = await sio.call("user_message", {"text": text}, timeout=15)
        if not ack.get("ok"):
            result["errors"].append(ack.get("error"))
            return result
        result["turn_id"] = ack["turn_id"]
        await asyncio.wait_for(done.wait(), timeout)
    finally:
        await sio.disconnect()
    return result
