"""Voice uploads in every container a browser or phone produces, decoded by PyAV (real
FFmpeg encoders make the files), and the checks that reject bad samples."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest
import soundfile as sf

from tests.voices import espeak_reference
from avatar.audio_io import UndecodableAudio, clipped_fraction, decode_audio, normalise_loudness, trim_silence

FORMATS = [("mp3", "mp3", "mp3"), ("m4a", "ipod", "aac"), ("ogg", "ogg", "libopus"), ("webm", "webm", "libopus"),
           ("flac", "flac", "flac"), ("wav", "wav", "pcm_s16le")]


def encode(samples: np.ndarray, sr: int, container: str, codec: str) -> bytes:
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        rate = 48_000 if codec == "libopus" else sr
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        resampler = av.AudioResampler(format=stream.format.name if stream.format else "s16", layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray((samples * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = sr
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buf.getvalue()


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    path = espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav", variant="m1", pitch=40)
    samples, sr = sf.read(path, dtype="float32")
    return samples, sr


@pytest.mark.parametrize(("ext", "container", "codec"), FORMATS)
def test_every_upload_format_decodes(speech: tuple[np.ndarray, int], ext: str, container: str, codec: str) -> None:
    samples, sr = speech
    data = encode(samples, sr, container, codec)
    decoded = decode_audio(data, 16_000)
    assert abs(len(decoded) / 16_000 - len(samples) / sr) < 0.15, ext
    assert np.sqrt(np.mean(decoded**2)) > 0.01


def test_undecodable_and_checks(speech: tuple[np.ndarray, int]) -> None:
    with pytest.raises(UndecodableAudio):
        decode_audio(b"not audio" * 100, 16_000)
    samples, sr = speech
    padded = np.concatenate([np.zeros(sr), samples, np.zeros(sr)])
    assert len(trim_silence(padded, sr)) < len(padded) - sr
    assert clipped_fraction(samples) == 0.0 and clipped_fraction(np.clip(samples * 30, -1, 1)) > 0.01
    louder = normalise_loudness(samples * 0.05, sr)
    assert np.max(np.abs(louder)) <= 0.95 + 1e-6 and np.max(np.abs(louder)) > np.max(np.abs(samples * 0.05))
