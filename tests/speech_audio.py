"""Real Mandarin speech for the speech-input tests and benchmark: espeak-ng (``-v cmn``)
resampled to 16 kHz PCM16, with silences of known length inserted between phrases."""

from __future__ import annotations

import asyncio
import io
import subprocess
import time
from dataclasses import dataclass

import numpy as np
import soundfile as sf

SAMPLE_RATE = 16_000
PHRASES = ("今天天氣很好，我們去公園散步吧", "請問捷運的末班車是幾點", "謝謝你的幫忙")


def to_16k(samples: np.ndarray, sr: int) -> np.ndarray:
    if sr == SAMPLE_RATE:
        return samples.astype(np.float32)
    n = int(round(len(samples) * SAMPLE_RATE / sr))
    return np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples).astype(np.float32)


def espeak_16k(text: str, *, wpm: int = 170) -> np.ndarray:
    wav = subprocess.run(
        ["espeak-ng", "-v", "cmn", "-s", str(wpm), "--stdout", text], capture_output=True, check=True
    ).stdout
    samples, sr = sf.read(io.BytesIO(wav), dtype="float32")
    return to_16k(samples, sr)


@dataclass
class Speech:
    pcm: np.ndarray  # int16, 16 kHz
    truth_ms: list[tuple[float, float]]  # where each phrase's sound begins and ends


def with_silences(
    parts: list[np.ndarray], silences_s: list[float], lead_s: float = 0.5, noise_dbfs: float | None = None
) -> Speech:
    """Concatenate ``parts`` with ``silences_s[i]`` of silence after part ``i``: digital zeros,
    or a room's noise floor at ``noise_dbfs`` (white noise, seeded) under everything."""
    out = [np.zeros(int(lead_s * SAMPLE_RATE), np.float32)]
    truth, pos = [], len(out[0])
    for part, silence in zip(parts, silences_s):
        loud = np.nonzero(np.abs(part) > 0.01)[0]  # where its sound is
        truth.append(((pos + loud[0]) * 1000 / SAMPLE_RATE, (pos + loud[-1]) * 1000 / SAMPLE_RATE))
        out += [part, np.zeros(int(silence * SAMPLE_RATE), np.float32)]
        pos += len(part) + int(silence * SAMPLE_RATE)
    audio = np.concatenate(out)
    if noise_dbfs is not None:
        audio = audio + np.random.default_rng(0).normal(0, 10 ** (noise_dbfs / 20), len(audio)).astype(np.float32)
    return Speech((np.clip(audio, -1, 1) * 32767).astype(np.int16), truth)


def mandarin_speech(phrases: tuple[str, ...] = PHRASES, silence_s: float = 1.0) -> Speech:
    return with_silences([espeak_16k(p) for p in phrases], [silence_s] * len(phrases))


async def stream_realtime(emit, pcm: np.ndarray, *, frame_ms: int = 40, speed: float = 1.0) -> None:
    """Send ``pcm`` as binary ``audio_chunk`` frames, paced like a microphone (``speed`` x)."""
    step = SAMPLE_RATE * frame_ms // 1000
    started = time.monotonic()
    for index, offset in enumerate(range(0, len(pcm), step)):
        await emit("audio_chunk", pcm[offset : offset + step].tobytes())
        due = started + (index + 1) * frame_ms / 1000 / speed
        await asyncio.sleep(max(0.0, due - time.monotonic()))
