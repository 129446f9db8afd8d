"""Run the Alembic migrations in ``migrations/`` from Python (used by ``avatar db upgrade``).

The ``avatar`` package lives at the repository root, next to ``alembic.ini`` and
``migrations/``, so both are found from this file rather than from the working directory.
``url=None`` means the application's database (``avatar.settings``), as for the alembic
command line.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from avatar.db.engine import make_engine, normalise_url
from avatar.settings import get_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def _resolve_url(url: str | None) -> str:
    if not url:
        url = get_settings().resolved_database_url
    return normalise_url(url)


def _sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (None for other backends and in-memory databases)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if not parsed.database or parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic ``Config`` for this repository's migrations.

    With ``url`` it is set as ``sqlalchemy.url`` (normalised to psycopg 3 for PostgreSQL);
    without, ``migrations/env.py`` falls back to the application settings.
    """
    if not MIGRATIONS_DIR.is_dir():
        raise FileNotFoundError(f"migrations directory not found: {MIGRATIONS_DIR}")
    config = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.is_file() else Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url:
        # ConfigParser interpolation: a literal '%' (e.g. in an escaped password) is '%%'.
        config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    # Leave the application's logging set-up alone (env.py would apply alembic.ini's).
    config.attributes["configure_logging"] = False
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (creating a SQLite file's folder if needed).

    Running it again at the same revision changes nothing.
    """
    resolved = _resolve_url(url)
    sqlite_file = _sqlite_file(resolved)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(resolved), revision)


def downgrade(url: str | None, revision: str) -> None:
    """Downgrade the database to ``revision`` (``"base"`` drops every table)."""
    command.downgrade(alembic_config(_resolve_url(url)), revision)


def current(url: str | None = None) -> str | None:
    """The database's current revision, or None when it has never been migrated."""
    resolved = _resolve_url(url)
    sqlite_file = _sqlite_file(resolved)
    if sqlite_file is not None and not sqlite_file.exists():
        return None  # don't create an empty database file just to look
    engine = make_engine(resolved)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
