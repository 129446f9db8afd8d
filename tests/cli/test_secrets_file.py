"""The secrets ``avatar up`` generates: only what nobody configured, once, 0600, and read by
the settings after the environment and ``.env``."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from dotenv import dotenv_values

from avatar.settings import Settings
from cli import secrets_file

NAMES = ("AVATAR_SECRET_KEY", "AVATAR_FLOWER_PASSWORD", "AVATAR_OPERATOR_TOKEN")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder to start from (its own .env, none of the developer's) and a data dir in it."""
    monkeypatch.chdir(tmp_path)
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AVATAR_DATA_DIR", str(tmp_path / "var"))
    return tmp_path / "var"


def test_generated_once_private_and_kept(data_dir: Path) -> None:
    first = secrets_file.ensure()
    assert first.path == data_dir / "secrets.env"
    assert set(first.generated) == {"secret_key", "flower_password", "operator_token"}
    assert stat.S_IMODE(first.path.stat().st_mode) == 0o600
    stored = dotenv_values(first.path)
    assert set(stored) == set(NAMES) and len(set(stored.values())) == 3
    assert all(len(value) >= 40 for value in stored.values())  # token_urlsafe(32)
    assert all(value in first.announcement() for value in stored.values())

    again = secrets_file.ensure()
    assert again.generated == {} and again.from_file == first.from_file
    assert dotenv_values(first.path) == stored

    # every process reads them through its settings
    settings = Settings()
    assert settings.secret_key == stored["AVATAR_SECRET_KEY"]
    assert settings.flower_password == stored["AVATAR_FLOWER_PASSWORD"]
    assert settings.operator_token == stored["AVATAR_OPERATOR_TOKEN"]


def test_a_value_configured_elsewhere_is_neither_generated_nor_overridden(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AVATAR_SECRET_KEY", "k" * 40)
    Path(".env").write_text("AVATAR_FLOWER_PASSWORD=from-dotenv\n")
    made = secrets_file.ensure()
    assert set(made.generated) == {"operator_token"}
    assert set(dotenv_values(made.path)) == {"AVATAR_OPERATOR_TOKEN"}
    settings = Settings()
    assert settings.secret_key == "k" * 40 and settings.flower_password == "from-dotenv"
    assert settings.operator_token == made.generated["operator_token"]


def test_the_environment_wins_over_the_file_made_earlier(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = secrets_file.ensure()
    monkeypatch.setenv("AVATAR_FLOWER_PASSWORD", "chosen")
    assert Settings().flower_password == "chosen"
    assert Settings().secret_key == made.generated["secret_key"]


def test_a_file_others_can_read_is_made_private_again(data_dir: Path) -> None:
    path = secrets_file.ensure().path
    path.chmod(0o644)
    secrets_file.ensure()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
