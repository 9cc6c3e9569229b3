"""``handles db upgrade``: bring the database named by DATABASE_URL to the newest schema.

docker-compose runs it once (the ``migrate`` service) before the worker and beat start, so that
several workers starting together never race to create the tables. Idempotent: on a current
schema it changes nothing; with data in the tables it keeps the data (Alembic migrations).
"""

from __future__ import annotations

import typer
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

from cli.common import CliError, describe_error, settings
from store.db import make_engine, upgrade_schema

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def _safe_url(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparseable URL: show only what follows the credentials
        return url.split("@")[-1]


def _current_revision(engine) -> str | None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade() -> None:
    """Create or upgrade the tables to the newest schema (safe to run again; keeps the data)."""
    url = settings().database_url
    where = _safe_url(url)
    engine = make_engine(url)
    try:
        before = _current_revision(engine)
        upgrade_schema(engine)
        after = _current_revision(engine)
    except Exception as exc:  # noqa: BLE001 - one line, never the password
        text = describe_error(exc).split("(Background on this error")[0].strip()
        raise CliError(f"database {where}: {text.replace(url, where)}") from None
    finally:
        engine.dispose()
    if before == after:
        typer.echo(f"database {where}: schema already current (revision {after})")
    else:
        typer.echo(f"database {where}: schema upgraded from {before or 'empty'} to revision {after}")


def register(app: typer.Typer) -> None:
    """Add the ``db`` command group to ``app``."""
    db_app.command("upgrade")(upgrade)
    app.add_typer(db_app, name="db")
