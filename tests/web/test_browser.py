"""The chat page in a real browser: Debian's Chromium, driven by playwright-core
(``web/e2e/run.mjs``), against a real system on the ``tiny`` profile (the real API serving
the built page, real Celery workers, real Redis). Nothing is mocked: the fake microphone is
Chromium's own (``--use-fake-device-for-media-stream``) playing a WAV that espeak-ng speaks.

Every lane the page shows runs: speech input (``asr``), prosody, both speech tiers.
Screenshots are saved under ``var/test-artifacts/browser/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import make_system
from tests.system import REPO, System

pytestmark = pytest.mark.slow

WEB = REPO / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(os.environ.get("AVATAR_TEST_ARTIFACTS", REPO / "var" / "test-artifacts")) / "browser"
SCENARIO_TIMEOUT_S = 280


def _require_browser_tooling() -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (`make test` installs Debian's chromium with apt-get)")
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the browser tests run web/e2e/run.mjs with node")
    if not (WEB / "node_modules" / "playwright-core").is_dir() or not (WEB / "dist" / "index.html").is_file():
        pytest.skip("the page is not built: run `make install` (npm ci and the Vite build of web/dist)")


def _espeak(text: str, path: Path, speed: int = 150) -> None:
    subprocess.run(["espeak-ng", "-v", "cmn", "-s", str(speed), "-w", str(path), text], check=True, timeout=60)


def _pad(path: Path, before_s: float, after_s: float) -> float:
    """Adds silence around a mono PCM16 WAV in place; returns its new length in seconds."""
    with wave.open(str(path), "rb") as w:
        rate, width, frames = w.getframerate(), w.getsampwidth(), w.readframes(w.getnframes())
    silence = lambda s: b"\0" * (int(rate * s) * width)  # noqa: E731
    data = silence(before_s) + frames + silence(after_s)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return len(data) / width / rate


def _silence(path: Path, seconds: float, rate: int = 16000) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\0" * (2 * int(rate * seconds)))


def _audio_files(folder: Path) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    mic = folder / "mic.wav"
    _espeak("你好，請問今天台北的天氣怎麼樣？", mic)
    _pad(mic, 1.0, 5.0)
    ok = folder / "voice-ok.wav"
    _espeak("今天天氣很好，我們一起去公園散步吧。你最近過得怎麼樣？有空的話，晚上一起吃個飯，聊聊天。", ok, speed=120)
    seconds = _pad(ok, 0.3, 0.3)
    assert 5 <= seconds <= 30, f"the valid voice sample is {seconds:.1f} s"
    short = folder / "voice-short.wav"
    _espeak("你好", short)
    silent = folder / "voice-silent.wav"
    _silence(silent, 8.0)
    return {
        "AVATAR_E2E_MIC_WAV": str(mic),
        "AVATAR_E2E_VOICE_OK": str(ok),
        "AVATAR_E2E_VOICE_SHORT": str(short),
        "AVATAR_E2E_VOICE_SILENT": str(silent),
    }


@pytest.fixture(scope="module")
def browser_system(tmp_path_factory: pytest.TempPathFactory, tiny_models_dir: Path) -> Iterator[tuple[System, dict[str, str]]]:
    """API + the lanes the page needs, on the tiny profile, with short replies."""
    _require_browser_tooling()
    tmp = tmp_path_factory.mktemp("web")
    system = make_system(tmp, "web", tiny_models_dir, AVATAR_LLM_MAX_TOKENS="40")
    try:
        system.start_api()
        lanes = ["llm", "tts_fast", "tts_hq", "asr", "prosody"]
        for lane in lanes:
            system.start_worker(lane, concurrency=1)
        system.wait_for_lanes(*lanes)
        yield system, _audio_files(tmp / "audio")
    finally:
        system.stop_all()


def _run(scenario: str, system: System, files: dict[str, str], **extra: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **files, **extra, "AVATAR_E2E_BASE": system.base_url, "AVATAR_E2E_OUT": str(ARTIFACTS),
           "CHROMIUM": str(CHROMIUM)}
    result = subprocess.run(["node", "e2e/run.mjs", scenario], cwd=WEB, env=env, capture_output=True, text=True,
                            timeout=SCENARIO_TIMEOUT_S)
    print(result.stdout, result.stderr, sep="\n")
    if result.returncode != 0:
        print("--- api log (tail) ---\n" + system.log("api")[-3000:])
    assert result.returncode == 0, f"browser scenario {scenario!r} failed:\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}"


def test_typed_turn_streams_tokens_plays_audio_and_resumes(browser_system):
    """Type a message: tokens stream into the bubble, the sentences play gaplessly, the
    latency strip fills in, replay plays an <audio> element, and a reload resumes the session."""
    system, files = browser_system
    _run("typed", system, files)


def test_mode_switch_fast_and_hq(browser_system):
    system, files = browser_system
    _run("mode", system, files)


def test_microphone_permission_denied_is_explained(browser_system):
    system, files = browser_system
    _run("mic_denied", system, files)


def test_spoken_turn_with_partial_and_final_transcript(browser_system):
    """Chromium's fake microphone plays an espeak-ng WAV: live partials, the final transcript
    as the user's message, then the reply; with prosody, the report shows numbers."""
    system, files = browser_system
    _run("spoken", system, files, AVATAR_E2E_PROSODY="1")


def test_voice_upload_valid_and_invalid(browser_system):
    system, files = browser_system
    _run("voice_upload", system, files)


def test_mode_both_upgrades_replay_to_hq(browser_system):
    system, files = browser_system
    _run("mode_both", system, files)
