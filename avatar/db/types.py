"""Column types that work on PostgreSQL and SQLite alike."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class Embedding(TypeDecorator[list[float]]):
    """A fixed-size float vector.

    pgvector's ``VECTOR(dim)`` on PostgreSQL when the ``vector`` extension is installed
    (the engine factory marks the dialect after checking ``pg_extension``); a JSON array
    everywhere else, so SQLite and a bare PostgreSQL store the same values.
    """

    impl = JSON
    cache_ok = True

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql" and getattr(dialect, "avatar_has_pgvector", False):
            from pgvector.sqlalchemy import VECTOR

            return dialect.type_descriptor(VECTOR(self.dim))
        return dialect.type_descriptor(JSON())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        values = [float(v) for v in value]
        if len(values) != self.dim:
            raise ValueError(f"embedding must have {self.dim} values, got {len(values)}")
        return values

    def process_result_value(self, value: Any, dialect: Dialect) -> list[float] | None:
        if value is None:
            return None
        return [float(v) for v in value]
