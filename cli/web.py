"""``handles web [--host H] [--port P]``: the read-only page for operators.

Refuses to start (one line, exit 2) without ``HANDLES_WEB_AUTH=user:password``, and where the
database holds no runs yet because it does not exist (it never creates one).
"""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from cli import common
from store.db import make_engine
from web.app import create_app
from web.auth import AuthNotConfigured, parse_credentials

DEFAULT_PORT = 8790


def _existing_database(url: str) -> None:
    """Refuse a SQLite file that is not there: a read-only page must not create an empty database."""
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:" and not Path(path).exists():
            raise common.CliError(
                f"no database at {path}: nothing has run here (set DATABASE_URL to the workers' database)",
                code=2,
            )


def register(app: typer.Typer) -> None:
    """Add the ``web`` command to ``app``."""

    @app.command("web")
    def web(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(DEFAULT_PORT, "--port", help="Port to listen on."),
    ) -> None:
        """Serve the read-only page of runs, records, verification and requests (basic auth)."""
        settings = common.settings()
        try:
            parse_credentials(settings.handles_web_auth)  # the password first: never start open
            _existing_database(settings.database_url)
            engine = make_engine(settings.database_url)
            application = create_app(settings=settings, engine=engine)
        except AuthNotConfigured as exc:
            raise common.CliError(str(exc), code=2) from None
        typer.echo(f"handles web: http://{host}:{port}/ (sign in with the user of HANDLES_WEB_AUTH)")
        uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)
