"""``bench.voice`` end to end on tiny models declared as random weights (the real-size ones take
minutes to build): a human recording streamed in real time over a real websocket to the real
API and workers, each stage's time and queue wait read from the events, and the section written
with the judged target. The figures of tiny models mean nothing; the plumbing is what is tested."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from avatar.model_files import random_weights, write_random_weights
from bench.report import machine_info
from bench.voice import STAGES, measure, render
from models.real_size import ASR_STAND_IN, LLM_STAND_IN


@pytest.mark.timeout(600)
def test_one_and_two_sessions_closed_loop(tiny_models_dir: Path, tmp_path: Path) -> None:
    models = {}
    for name, stand_in in (("llm", LLM_STAND_IN), ("asr", ASR_STAND_IN)):
        models[name] = shutil.copytree(tiny_models_dir / "tiny" / name, tmp_path / name)
        write_random_weights(models[name], stand_in)
    assert random_weights(models["llm"]) == LLM_STAND_IN

    result = measure([1, 2], turns=2, models=models)  # progress shows when it fails

    levels = result["levels"]
    assert [lv.sessions for lv in levels] == [1, 2]
    assert [len(lv.turns) for lv in levels] == [2, 4] and not any(lv.failures for lv in levels)
    for turn in (t for lv in levels for t in lv.turns):
        stages = turn.stages_ms()
        # the client-side gaps are consecutive and add up to the total
        assert stages["vad"] + stages["asr"] + stages["llm"] + stages["tts"] == pytest.approx(stages["total"])
        assert all(stages[key] >= 0 for key in ("vad", "asr", "llm", "tts"))
        # the worker-side parts fit inside their stage's gap
        assert 0 <= stages["asr_queue"] + stages["asr_model"] <= stages["asr"]
        assert 0 <= stages["tts_queue"] + stages["tts_synthesis"] <= stages["tts"] + stages["llm"]
        assert stages["asr_model"] > 0 and stages["tts_synthesis"] > 0
        assert turn.playback_end >= turn.first_audio
    section = render({**result, "wall_min": 1.0}, machine_info(), "python -m bench.voice --sessions 1,2 --turns 2")
    assert section.startswith("<!-- bench:voice:start -->")
    assert "Target: end of speech → first audio P95 ≤ 3.5 s at 1 session:" in section
    assert "PASS" in section or "FAIL" in section
    assert all(label in section for _, label in STAGES)
    assert "| turns measured (failed) | 2 (0) | 4 (0) |" in section
    assert "The stage that saturates: the `" in section
