"""A terminal client for one typed turn (``avatar chat``): creates an owner and a session,
optionally uploads a voice to clone (waiting for its analysis) and picks the TTS mode, connects
over Socket.IO, sends the message and prints the streamed reply, the audio chunks and, in mode
``both``, the turn's HQ rendering."""

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


class ChatError(RuntimeError):
    """Something before the turn was refused (the voice upload, its analysis, the mode)."""


async def upload_voice(http: httpx.AsyncClient, sample: Path, transcript: str, timeout: float) -> str:
    """Upload ``sample`` as a voice profile and wait until it is ready; its id."""
    response = await http.post("/api/v1/voice-profiles", files={"file": (sample.name, sample.read_bytes())},
                               data={"name": sample.stem, "transcript": transcript}, timeout=120)
    if response.status_code != 201:
        raise ChatError(f"voice upload refused ({response.status_code}): {response.text}")
    profile_id = str(response.json()["profile_id"])
    print(f"[voice {profile_id} uploaded; analysing ...]")
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        body = (await http.get(f"/api/v1/voice-profiles/{profile_id}")).raise_for_status().json()
        if body["status"] == "ready":
            return profile_id
        if body["status"] != "processing":
            raise ChatError(f"voice analysis {body['status']}: {body.get('error')}")
        if asyncio.get_running_loop().time() > deadline:
            raise ChatError(f"voice analysis not done after {timeout:g} s")
        await asyncio.sleep(0.5)


async def chat_once(
    base_url: str, text: str, *, save_dir: Path | None = None, timeout: float = 300,
    mode: str | None = None, voice: Path | None = None, transcript: str = "", style: str | None = None,
) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        http.headers.update(await owner_headers(http))
        created = (await http.post("/api/v1/sessions")).raise_for_status().json()
        voice_id = await upload_voice(http, voice, transcript, timeout) if voice is not None else None
    done = asyncio.Event()
    hq_done = asyncio.Event()
    wait_for_hq = mode == "both"
    result: dict[str, Any] = {"session_id": created["session_id"], "chunks": [], "errors": [], "hq": None}
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

    @sio.on("hq_audio_ready")
    async def on_hq(data: dict[str, Any]) -> None:
        result["hq"] = data
        print(f"[HQ rendering ready: {data.get('duration_ms', 0):.0f} ms, {data.get('url')}]")
        hq_done.set()

    @sio.on("error")
    async def on_error(data: dict[str, Any]) -> None:
        result["errors"].append(data)
        print(f"[error {data.get('code')}: {data.get('message')}" + (f" -> {data['fix']}" if data.get("fix") else "") + "]")
        if data.get("seq") is None:
            done.set()
            hq_done.set()  # the turn (or its HQ rendering) ended: nothing more will come

    await sio.connect(base_url, auth={"session_id": created["session_id"], "token": created["token"]},
                      transports=["websocket"])
    try:
        if mode is not None or voice_id is not None:
            choice = {"mode": mode or "fast", "voice_profile_id": voice_id, "style": style}
            ack = await sio.call("set_tts_mode", {k: v for k, v in choice.items() if v is not None}, timeout=15)
            if not ack.get("ok"):
                result["errors"].append(ack.get("error"))
                return result
        ack = await sio.call("user_message", {"text": text}, timeout=15)
        if not ack.get("ok"):
            result["errors"].append(ack.get("error"))
            return result
        result["turn_id"] = ack["turn_id"]
        await asyncio.wait_for(done.wait(), timeout)
        if wait_for_hq and result["chunks"]:
            print("[waiting for the HQ rendering ...]")
            await asyncio.wait_for(hq_done.wait(), timeout)
    finally:
        await sio.disconnect()
    return result
