"""The schema, kept by Alembic so that an upgrade keeps the data.

Alembic takes about a tenth of a second to import: it lives here, imported by what upgrades or
inspects a schema, and not by :mod:`store.db`, which every command and task imports.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

__all__ = ["alembic_config", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")

_UPGRADE_LOCK = 0x68616E646C6573  # "handles": one schema upgrade at a time on a PostgreSQL server


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent; safe with data in it).

    On PostgreSQL a transaction-scoped advisory lock makes workers that start together upgrade one
    after the other instead of racing to create the same tables.
    """
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
        cfg = alembic_config(engine)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
