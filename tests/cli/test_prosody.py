"""``avatar analyze FILE`` prints the report as a table (real espeak-ng speech)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from avatar.audio import encode_wav
from cli.main import app
from tests.workers.prosody import speech as sp

TEXT = "今天台北天氣晴朗，很適合出門走走。"


def test_analyze_prints_scores_explanation_and_features(tmp_path: Path) -> None:
    wav = tmp_path / "turn.wav"
    wav.write_bytes(encode_wav(sp.espeak_speech(TEXT).samples, sp.RATE))
    result = CliRunner().invoke(app, ["analyze", str(wav), "--transcript", TEXT])
    assert result.exit_code == 0, result.output
    for expected in ("status    ok", "confidence", "stability", "affability", "speech_rate_sps",
                     "contrib", "jitter_rap_steady_pct", "f0_tremor_power", "syllables counted from the transcript",
                     "95 % test-retest interval"):
        assert expected in result.output

    as_json = CliRunner().invoke(app, ["analyze", str(wav), "--json"])
    report = json.loads(as_json.output)
    assert set(report["scores"]) == {"confidence", "stability", "affability"}
    assert len(report["egemaps"]) == 88 and report["praat"]["syllable_source"] == "nuclei"
    for name, value in report["scores"].items():
        assert report["interval"][name]["low"] <= value <= report["interval"][name]["high"]
    assert report["relative"] is None  # one recording: no earlier utterances


def test_analyze_says_why_a_recording_is_refused(tmp_path: Path) -> None:
    wav = tmp_path / "silence.wav"
    wav.write_bytes(encode_wav(np.zeros(sp.RATE * 2), sp.RATE))
    result = CliRunner().invoke(app, ["analyze", str(wav)])
    assert result.exit_code == 2
    assert "insufficient_quality" in result.output and "silence" in result.output


def test_analyze_shows_the_learned_second_opinion_apart(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from avatar.settings import get_settings
    from models.tiny import make_tiny_emotion

    wav = tmp_path / "turn.wav"
    wav.write_bytes(encode_wav(sp.espeak_speech(TEXT).samples, sp.RATE))
    monkeypatch.setenv("AVATAR_PROSODY_EMOTION_ENGINE", "wav2vec2_msp_dim")
    monkeypatch.setenv("AVATAR_PROSODY_EMOTION_MODEL", str(make_tiny_emotion(tmp_path / "emotion")))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["analyze", str(wav), "--transcript", TEXT])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    for expected in ("learned second opinion (wav2vec2_msp_dim, CC-BY-NC-SA-4.0; not part of the scores)",
                     "arousal", "dominance", "valence", "assumption, not validated"):
        assert expected in result.output
