"""``handles webhook [--host H] [--port P]``: listen for Alma's JOB_END webhook.

Needs ``ALMA_WEBHOOK_SECRET`` (the secret of the Webhooks integration profile in Alma); refuses to
start without it. Put an HTTPS reverse proxy with a valid certificate in front: Alma only calls
HTTPS listeners.
"""

from __future__ import annotations

import typer

from cli import common


def register(app: typer.Typer) -> None:
    """Add the ``webhook`` command to ``app``."""

    @app.command("webhook")
    def webhook(
        host: str = typer.Option(
            "127.0.0.1", "--host", help="The interface to listen on (127.0.0.1: this machine only)."
        ),
        port: int = typer.Option(8791, "--port", help="The port to listen on."),
    ) -> None:
        """Listen for Alma's JOB_END webhook and move the runs it concerns on at once."""
        import uvicorn

        from config.logging import configure_logging
        from store.db import make_engine
        from webhook.app import create_app
        from webhook.send import celery_sender

        settings = common.settings()
        secret = settings.alma_webhook_secret.get_secret_value() if settings.alma_webhook_secret else ""
        if not secret:
            raise common.CliError(
                "set ALMA_WEBHOOK_SECRET (the secret of Alma's Webhooks integration profile) first", code=2
            )
        configure_logging(settings.log_level)
        listener = create_app(secret=secret, engine=make_engine(settings.database_url), send=celery_sender())
        typer.echo(f"handles webhook: listening on http://{host}:{port}/ (JOB_END events, challenge)")
        uvicorn.run(listener, host=host, port=port, log_level="warning", access_log=False)
