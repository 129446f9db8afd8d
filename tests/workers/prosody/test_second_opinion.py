"""The learned second opinion (issue 19, item 6): audEERING's dimensional emotion architecture
on tiny random weights, written by ``models.tiny_emotion`` and loaded by the engine's own
``from_pretrained`` path, on real speech. The numbers mean nothing (random weights); what is
checked is that the real code runs, that its output lands beside the scores with its licence
and the mapping assumption, and that the interpretable scores do not move with it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from avatar.settings import Settings
from models.tiny import make_tiny_emotion
from tests.workers.prosody import speech as sp
from workers.engines.emotion.base import DIMENSIONS, MAPPING_ASSUMPTION
from workers.engines.emotion.wav2vec2_dim import Wav2Vec2Dimensional
from workers.engines.registry import get_emotion_engine
from workers.prosody.analysis import analyze

TEXT = "今天台北天氣晴朗，很適合出門走走。"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_emotion(tmp_path_factory.mktemp("models") / "tiny" / "emotion")


@pytest.fixture(scope="module")
def speech() -> sp.Speech:
    return sp.espeak_speech(TEXT)


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="x" * 32, **values)  # type: ignore[arg-type]


def test_off_by_default(tmp_path: Path) -> None:
    assert get_emotion_engine(_settings(tmp_path)) is None


def test_the_tiny_model_loads_and_predicts_three_dimensions(tiny_model: Path, tmp_path: Path, speech: sp.Speech) -> None:
    engine = get_emotion_engine(_settings(tmp_path, prosody_emotion_engine="wav2vec2_msp_dim",
                                          prosody_emotion_model=str(tiny_model)))
    assert isinstance(engine, Wav2Vec2Dimensional) and engine.availability().ok
    values = engine.predict(speech.samples.astype(np.float32))
    assert set(values) == set(DIMENSIONS)
    assert all(0.0 <= v <= 1.0 for v in values.values())
    # the same audio gives the same opinion; other audio (a second of noise) another one
    assert engine.predict(speech.samples.astype(np.float32)) == values
    noise = np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32)
    assert engine.predict(noise) != values


def test_the_opinion_sits_beside_the_scores_and_never_moves_them(tiny_model: Path, tmp_path: Path,
                                                                 speech: sp.Speech) -> None:
    engine = Wav2Vec2Dimensional(_settings(tmp_path, prosody_emotion_model=str(tiny_model)))
    plain = analyze(speech.samples, sp.RATE, TEXT)
    with_opinion = analyze(speech.samples, sp.RATE, TEXT, emotion=engine)
    assert plain.status == with_opinion.status == "ok"
    assert with_opinion.scores == plain.scores and with_opinion.interval == plain.interval
    assert plain.learned is None
    learned = with_opinion.features()["learned"]
    assert learned["engine"] == "wav2vec2_msp_dim" and learned["licence"] == "CC-BY-NC-SA-4.0"
    assert learned["assumption"] == MAPPING_ASSUMPTION and "assumption" in MAPPING_ASSUMPTION
    assert learned["values"] == engine.predict(speech.samples.astype(np.float32))


def test_missing_weights_say_how_to_get_them_and_cost_no_score(tmp_path: Path, speech: sp.Speech) -> None:
    engine = Wav2Vec2Dimensional(_settings(tmp_path))  # models_dir/wav2vec2-msp-dim: not there
    assert not engine.availability().ok
    report = analyze(speech.samples, sp.RATE, TEXT, emotion=engine)
    assert report.status == "ok" and report.scores is not None
    assert "values" not in report.learned
    assert "missing" in report.learned["error"]
    assert "avatar models pull --profile emotion" in report.learned["fix"]


def test_a_refused_recording_gets_no_opinion(tiny_model: Path, tmp_path: Path) -> None:
    engine = Wav2Vec2Dimensional(_settings(tmp_path, prosody_emotion_model=str(tiny_model)))
    silence = np.zeros(sp.RATE * 2)
    report = analyze(silence, sp.RATE, TEXT, emotion=engine)
    assert report.status == "insufficient_quality" and report.learned is None


def test_a_checkpoint_without_the_regression_head_is_refused(tmp_path: Path, speech: sp.Speech) -> None:
    """A plain wav2vec2 folder (no ``classifier.*``) would load with a random head and answer
    confidently; the engine says what is wrong instead."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    from models.tiny_emotion import TINY_ARCH

    folder = tmp_path / "plain-wav2vec2"
    Wav2Vec2Model(Wav2Vec2Config(**TINY_ARCH, num_labels=3)).save_pretrained(folder)
    Wav2Vec2FeatureExtractor().save_pretrained(folder)
    report = analyze(speech.samples, sp.RATE, TEXT,
                     emotion=Wav2Vec2Dimensional(_settings(tmp_path, prosody_emotion_model=str(folder))))
    assert report.scores is not None and "values" not in report.learned
    assert "not a dimensional emotion checkpoint" in report.learned["error"]
    assert "classifier." in report.learned["error"]
