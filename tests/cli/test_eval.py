"""``avatar eval asr`` and ``avatar eval tts`` on the tiny profile: the real commands, the
real tiny Whisper and espeak-ng, real audio, a real SQLite voice profile. The tiny models are
random, so the rates mean nothing; what is checked is the plumbing (every recording or text
gets a row, the CSV's arithmetic agrees with its own columns) and the answers to bad input."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from avatar.audio import encode_wav
from avatar.db import VoiceProfile, session_scope
from avatar.db.migrate import upgrade
from avatar.settings import Settings, get_settings
from avatar.storage import get_storage
from avatar.voice_upload import READY, reference_key
from cli.main import app
from tests.voices import espeak_reference
from tests.workers.prosody import speech as sp
from workers.evaluation.metrics import char_errors
from workers.voice_profiles import process_upload, wav_bytes

UTTERANCES = {"weather": "今天台北天氣晴朗。", "train": "請問末班車是幾點？", "rain": "明天下午可能會下雨。"}


@pytest.fixture
def tiny(tmp_path: Path, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    for key, value in {"AVATAR_PROFILE": "tiny", "AVATAR_DATA_DIR": str(tmp_path / "data"),
                       "AVATAR_MODELS_DIR": str(tiny_models_dir), "AVATAR_SECRET_KEY": uuid.uuid4().hex * 2}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _check_arithmetic(row: dict[str, str]) -> None:
    errors = char_errors(row["reference"] if "reference" in row else row["text"], row["hypothesis"])
    assert float(row["cer"]) == pytest.approx(errors.cer, abs=1e-4)
    assert int(row["reference_chars"]) == errors.reference_chars
    assert float(row["rtf"]) == pytest.approx(float(row["seconds"]) / float(row["duration_s"]), rel=0.01, abs=1e-3)


def test_eval_asr_on_pairs_and_on_a_common_voice_folder(tiny: Settings, tmp_path: Path) -> None:
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for name, text in UTTERANCES.items():
        (pairs / f"{name}.wav").write_bytes(encode_wav(sp.espeak_speech(text).samples, sp.RATE))
        (pairs / f"{name}.txt").write_text(text, encoding="utf-8")
    (pairs / "untranscribed.wav").write_bytes((pairs / "rain.wav").read_bytes())
    out = tmp_path / "asr.csv"
    result = CliRunner().invoke(app, ["eval", "asr", str(pairs), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "ASR on" in result.output and "pairs layout" in result.output and "faster_whisper" in result.output
    assert "skipped untranscribed.wav: no .txt transcript beside it" in result.output
    rows = _rows(out)
    assert sorted(r["file"] for r in rows) == sorted(f"{n}.wav" for n in UTTERANCES)
    for row in rows:
        assert row["engine"] == "faster_whisper" and not row["error"]
        _check_arithmetic(row)

    common_voice = tmp_path / "cv"
    (common_voice / "clips").mkdir(parents=True)
    (common_voice / "clips" / "a.wav").write_bytes((pairs / "weather.wav").read_bytes())
    (common_voice / "test.tsv").write_text(
        "client_id\tpath\tsentence\nx\ta.wav\t今天台北天氣晴朗。\nx\tmissing.mp3\t不見了\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "asr", str(common_voice), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "common_voice layout" in result.output and "skipped missing.mp3: audio file not found" in result.output
    [row] = _rows(out)
    assert row["file"] == "clips/a.wav" and row["reference"] == "今天台北天氣晴朗。"


def test_eval_asr_says_what_it_needs(tiny: Settings, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(app, ["eval", "asr", str(empty)])
    assert result.exit_code == 2 and "no recording with a transcript" in result.output
    result = CliRunner().invoke(app, ["eval", "asr", str(empty), "--engine", "nope"])
    assert result.exit_code == 2 and "unknown ASR engine nope" in result.output


def _ready_voice(settings: Settings, tmp_path: Path) -> str:
    """A voice profile as the analysis stage leaves it, from a real espeak-ng sample."""
    upgrade(settings.resolved_database_url)
    sample = espeak_reference(tmp_path / "sample.wav", variant="f2", pitch=60)
    processed = process_upload(sample.read_bytes(), settings)
    profile_id = uuid.uuid4()
    get_storage(settings).put(reference_key(profile_id), wav_bytes(processed.reference, processed.sample_rate))
    with session_scope(settings.resolved_database_url) as db:
        db.add(VoiceProfile(profile_id=profile_id, name="me", audio_url=reference_key(profile_id),
                            embedding=processed.embedding, duration_sec=processed.duration_s,
                            meta={"status": READY, "transcript": "這是一段參考錄音"}))
    return str(profile_id)


def test_eval_tts_speaks_each_text_in_each_tier_and_scores_it(tiny: Settings, tmp_path: Path) -> None:
    voice = _ready_voice(tiny, tmp_path)
    texts = tmp_path / "texts.txt"
    texts.write_text("今天台北天氣晴朗。\n\n請問末班車是幾點？\n", encoding="utf-8")
    out = tmp_path / "tts.csv"
    result = CliRunner().invoke(app, ["eval", "tts", "--voice", voice, str(texts), "明天會下雨。", "--csv", str(out)])
    assert result.exit_code == 0, result.output
    assert "TTS in voice" in result.output and "CER" in result.output and "similarity" in result.output
    rows = _rows(out)
    assert [(r["tier"], r["index"]) for r in rows] == [("fast", "0"), ("fast", "1"), ("fast", "2"),
                                                        ("hq", "0"), ("hq", "1"), ("hq", "2")]
    assert {r["engine"] for r in rows} == {"espeak"}
    for row in rows:
        assert not row["error"] and -1.0 <= float(row["similarity"]) <= 1.0
        _check_arithmetic(row)

    only_fast = CliRunner().invoke(app, ["eval", "tts", "--voice", voice, "你好。", "--tier", "fast", "--csv", str(out)])
    assert only_fast.exit_code == 0, only_fast.output
    assert [r["tier"] for r in _rows(out)] == ["fast"]


def test_eval_tts_refuses_an_unknown_voice(tiny: Settings) -> None:
    upgrade(tiny.resolved_database_url)
    for voice in (str(uuid.uuid4()), "not-a-uuid"):
        result = CliRunner().invoke(app, ["eval", "tts", "--voice", voice, "你好。"])
        assert result.exit_code == 2 and "not found or not ready" in result.output, result.output


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a first run builds the f5 engine env inside the fixture
def test_eval_tts_runs_an_engine_env_tier_in_its_env(
    engine_env: object, tmp_path: Path, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The tiny-gpu profile's fast tier is F5-TTS, whose lane runs in the ``f5`` engine env:
    the command synthesises there (F5-TTS's own code on the tiny random F5) and scores here."""
    import shutil

    import redis

    from models.tiny_f5 import F5_FOLDER, make_tiny_f5
    from tests.conftest import REDIS_BASE, REDIS_DB

    f5_python = engine_env("f5")  # type: ignore[operator]
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "tiny" / "asr", models / "tiny" / "asr")
    make_tiny_f5(models / "tiny" / F5_FOLDER, python=f5_python)
    url = f"{REDIS_BASE}/{REDIS_DB['eval_f5']}"
    redis.Redis.from_url(url).flushdb()
    for key, value in {"AVATAR_PROFILE": "tiny-gpu", "AVATAR_DATA_DIR": str(tmp_path / "data"),
                       "AVATAR_MODELS_DIR": str(models), "AVATAR_REDIS_URL": url,
                       "AVATAR_SECRET_KEY": uuid.uuid4().hex * 2, "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        voice = _ready_voice(get_settings(), tmp_path)
        out = tmp_path / "tts.csv"
        result = CliRunner().invoke(app, ["eval", "tts", "--voice", voice, "今天天氣很好。", "--tier", "fast",
                                          "--csv", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    [row] = _rows(out)
    assert row["tier"] == "fast" and row["engine"] == "f5" and not row["error"], row
    assert float(row["duration_s"]) > 0 and -1.0 <= float(row["similarity"]) <= 1.0
    _check_arithmetic(row)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a first run builds the qwen-asr engine env inside the fixture
def test_eval_asr_runs_an_engine_env_engine_in_its_env_and_scores_here(
    engine_env: object, tmp_path: Path, tiny_models_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Qwen3-ASR runs in the ``qwen-asr`` env (its transformers pin): the command transcribes
    there with the package's own code on the tiny random Qwen3-ASR and scores in this one."""
    import shutil

    from models.tiny_qwen_asr import make_tiny_qwen_asr

    python = engine_env("qwen-asr")  # type: ignore[operator]
    models = tmp_path / "models"
    shutil.copytree(tiny_models_dir / "tiny" / "asr", models / "tiny" / "asr")
    make_tiny_qwen_asr(models / "tiny" / "qwen-asr", python=python)
    for key, value in {"AVATAR_PROFILE": "tiny", "AVATAR_DATA_DIR": str(tmp_path / "data"),
                       "AVATAR_MODELS_DIR": str(models), "HF_HUB_OFFLINE": "1"}.items():
        monkeypatch.setenv(key, value)
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    for name, text in UTTERANCES.items():
        (pairs / f"{name}.wav").write_bytes(encode_wav(sp.espeak_speech(text).samples, sp.RATE))
        (pairs / f"{name}.txt").write_text(text, encoding="utf-8")
    out = tmp_path / "asr.csv"
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["eval", "asr", str(pairs), "--engine", "faster_whisper",
                                          "--engine", "qwen_asr", "--csv", str(out)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    rows = _rows(out)
    assert sorted((r["engine"], r["file"]) for r in rows) == sorted(
        (engine, f"{n}.wav") for engine in ("faster_whisper", "qwen_asr") for n in UTTERANCES)
    for row in rows:
        assert not row["error"], row
        _check_arithmetic(row)
