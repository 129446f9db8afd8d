"""The API's cheap checks of a voice upload: every refusal code from PyAV and numpy alone,
without importing torch, resemblyzer or parselmouth."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avatar.settings import Settings
from avatar.voice_upload import VoiceRejected, check_upload, extension_of, original_key, profile_status
from tests.system import REPO
from tests.voices import espeak_reference


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, int]:
    path = espeak_reference(tmp_path_factory.mktemp("ref") / "ref.wav", variant="f3", pitch=70)
    samples, sr = sf.read(path, dtype="float32")
    return samples, int(sr)


def _wav(samples: np.ndarray, sr: int, fmt: str = "WAV") -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, sr, format=fmt)
    return buf.getvalue()


def test_every_refusal_has_its_code(speech: tuple[np.ndarray, int]) -> None:
    samples, sr = speech
    settings = Settings()
    cases = {
        "VOICE_UNDECODABLE": b"this is not audio at all" * 50,
        "VOICE_TOO_SHORT": _wav(samples[: int(sr * 2.5)], sr),
        "VOICE_TOO_LONG": _wav(np.tile(samples, 6), sr, "FLAC"),
        "VOICE_MOSTLY_SILENCE": _wav(np.concatenate([samples[: sr * 3], np.zeros(sr * 25, dtype=np.float32)]), sr),
        "VOICE_CLIPPED": _wav(np.clip(samples * 30, -1, 1), sr),
        "VOICE_TOO_LARGE": os.urandom(int(settings.voice_upload_max_mb * 1024 * 1024) + 1),
    }
    for code, data in cases.items():
        with pytest.raises(VoiceRejected) as refused:
            check_upload(data, settings)
        assert refused.value.code == code
        assert refused.value.status == (413 if code == "VOICE_TOO_LARGE" else 422)
    checked = check_upload(_wav(samples, sr), settings)
    assert 5.0 <= checked.speech_s <= 30.0


def test_keys_and_status() -> None:
    assert extension_of("me.M4A") == "m4a" and extension_of("notes.exe") == "bin" and extension_of(None) == "bin"
    assert original_key("p1", "a.ogg") == "voice_profiles/p1/original.ogg"
    assert profile_status({}) == "ready", "a profile stored before analysis was a job"
    assert profile_status({"status": "processing"}) == "processing"


def test_the_checks_import_no_model_package(speech: tuple[np.ndarray, int], tmp_path: Path) -> None:
    samples, sr = speech
    sample = tmp_path / "ok.wav"
    sample.write_bytes(_wav(samples, sr))
    script = (
        "import json, sys; from pathlib import Path; from avatar.settings import Settings; "
        "from avatar.voice_upload import check_upload; "
        f"check_upload(Path({str(sample)!r}).read_bytes(), Settings()); "
        "print(json.dumps(sorted(m for m in ('torch', 'resemblyzer', 'parselmouth') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
