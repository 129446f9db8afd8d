"""Alembic environment for AVATAR.

URL: ``sqlalchemy.url`` from the Alembic config when the caller set one (see
:func:`avatar.db.migrate.alembic_config`), otherwise the application's settings
(``AVATAR_DATABASE_URL``, default SQLite file under ``./var/``). Plain ``postgresql://``
URLs are mapped to psycopg 3 by :func:`avatar.db.engine.normalise_url`.

A caller may also hand over an open connection in ``config.attributes["connection"]``;
it is then used as is (and not closed here).
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection, make_url

from avatar.db.engine import make_engine, normalise_url
from avatar.db.models import Base

try:  # Registers pgvector's ``vector`` type so reflection (autogenerate) recognises it.
    import pgvector.sqlalchemy  # noqa: F401
except ImportError:  # pragma: no cover - pgvector is a declared dependency
    pass

config = context.config

# The alembic command line configures logging from alembic.ini; programmatic callers
# (avatar.db.migrate) set ``configure_logging`` to False and keep their own logging.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from avatar.settings import get_settings

        url = get_settings().resolved_database_url
    return normalise_url(url)


def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _configure_options(is_sqlite: bool) -> dict[str, object]:
    return {
        "target_metadata": target_metadata,
        "compare_type": True,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        "render_as_batch": is_sqlite,
    }


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) without connecting."""
    url = database_url()
    context.configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        **_configure_options(_is_sqlite(url)),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with_connection(connection: Connection) -> None:
    context.configure(
        connection=connection,
        **_configure_options(connection.dialect.name == "sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return

    engine = make_engine(database_url())
    try:
        with engine.connect() as connection:
            _run_with_connection(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
