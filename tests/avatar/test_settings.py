"""Profile defaults in avatar/settings.py: a profile fills what is not set, explicit values win."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from avatar.settings import MissingSecretKey, Settings


def test_asr_lane_has_a_slot_for_finals_on_cpu_and_one_whisper_copy_on_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AVATAR_ASR_CONCURRENCY", raising=False)
    # CPU: a final must not wait behind the session's running partial, so two processes.
    assert Settings(profile="cpu").lane_concurrency("asr") == 2
    assert Settings(profile="tiny").lane_concurrency("asr") == 2
    # GPU: each process would load its own Whisper onto the device; the plan books one.
    gpu = Settings(profile="gpu")
    assert gpu.lane_concurrency("asr") == 1 and gpu.asr_device == "cuda"


def test_an_explicit_value_beats_the_profile_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AVATAR_ASR_CONCURRENCY", "3")
    assert Settings(profile="gpu").lane_concurrency("asr") == 3
    assert Settings(profile="gpu", asr_concurrency=4).lane_concurrency("asr") == 4


# --- secrets and origins ------------------------------------------------------------------


@pytest.fixture
def bare(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Callable[..., Settings]:
    """Settings from nothing but their defaults (no environment, .env or secrets file)."""
    monkeypatch.chdir(tmp_path)
    for name in ("AVATAR_SECRET_KEY", "AVATAR_OPERATOR_TOKEN", "AVATAR_ALLOWED_ORIGINS",
                 "AVATAR_PUBLIC_BASE_URL", "AVATAR_API_HOST", "AVATAR_API_PORT", "AVATAR_DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    return lambda **values: Settings(data_dir=tmp_path, **values)


def test_no_secret_has_a_working_default(bare: Callable[..., Settings]) -> None:
    settings = bare()
    assert settings.secret_key == "" and settings.operator_token == ""
    with pytest.raises(MissingSecretKey, match="AVATAR_SECRET_KEY is not set.*`make up`"):
        settings.require_secret_key()
    assert settings.secret_key_weakness() == "it is not set"
    assert bare(secret_key="dev-secret-change-me").secret_key_weakness() == "it is a published default"
    assert "shorter than" in bare(secret_key="s" * 31).secret_key_weakness()
    assert bare(secret_key="s" * 32).secret_key_weakness() is None


def test_allowed_origins_default_to_the_page_itself(bare: Callable[..., Settings]) -> None:
    assert bare().resolved_allowed_origins == ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
    assert bare(public_base_url="https://avatar.example/").resolved_allowed_origins == ["https://avatar.example"]
    assert bare(public_base_url="https://avatar.example:8443").resolved_allowed_origins == [
        "https://avatar.example:8443"]


def test_configured_origins_replace_the_default(bare: Callable[..., Settings]) -> None:
    settings = bare(allowed_origins="http://localhost:5173, HTTPS://Avatar.example:443")
    assert settings.resolved_allowed_origins == ["http://localhost:5173", "https://avatar.example"]
    for wrong in ("*", "avatar.example", "https://avatar.example/chat", "ftp://avatar.example"):
        with pytest.raises(ValueError, match="AVATAR_ALLOWED_ORIGINS"):
            bare(allowed_origins=wrong)
