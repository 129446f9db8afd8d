"""Real speech for the prosody tests, and every manipulation analysed once per session
(the suite itself lives in ``isolation.py``, which also regenerates docs/prosody.md's table)."""

from __future__ import annotations

import pytest

from tests.workers.prosody import speech as sp
from tests.workers.prosody.isolation import SCORE_NAMES, Validation, analyse_all

__all__ = ["SCORE_NAMES", "Validation", "RECORDINGS"]

RECORDINGS = ("espeak-cmn-f2", *sp.HUMAN_RECORDINGS)
_cache: dict[str, Validation] = {}


def validation_of(name: str) -> Validation:
    if name not in _cache:
        if name == "espeak-cmn-f2":
            source: sp.Speech | str = sp.espeak_speech()
        else:
            source = sp.human_speech(name)
        if isinstance(source, str):
            pytest.skip(f"the real recording {name} from the f5-tts wheel is unavailable: {source}")
        _cache[name] = analyse_all(source)  # type: ignore[arg-type]
    return _cache[name]


@pytest.fixture(scope="session", params=RECORDINGS)
def validation(request: pytest.FixtureRequest) -> Validation:
    return validation_of(request.param)
