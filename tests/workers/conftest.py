"""Fixtures for the worker engine tests: a tiny local chat model, built once per run."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Qwen2 chat model (ChatML template, zh-TW BPE) on disk; no downloads."""
    from models.tiny import make_tiny_llm

    return make_tiny_llm(tmp_path_factory.mktemp("tiny-llm") / "llm")
