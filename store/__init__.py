"""Persistence: SQLModel tables, engine and sessions, Alembic migrations."""

from store.db import make_engine, session_scope, upgrade_schema

__all__ = ["make_engine", "session_scope", "upgrade_schema"]
