"""Profile defaults in avatar/settings.py: a profile fills what is not set, explicit values win."""

from __future__ import annotations

import pytest

from avatar.settings import Settings


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
