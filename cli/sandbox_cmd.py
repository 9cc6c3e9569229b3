"""``handles sandbox [--host H] [--port P] [switches…]``: run the built-in simulator on one port.

Serves Alma under ``/almaws/v1``, the Handle proxy under ``/api/handles``, the Handle server's
admin API under ``/handle-server``, the target pages and the ``/sandbox`` control routes. The
switches set the start-up state of :class:`sandbox.config.SandboxConfig`; change them later with
``POST /sandbox/config``.
"""

from __future__ import annotations

import json
import socket

import typer

from cli import common
from sandbox.app import serve


def _check_listen(host: str, port: int) -> None:
    """One line, before the banner, when the port is taken or the host cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise common.CliError(f"--host {host}: cannot listen there ({_reason(exc)})", code=2) from None
    family, kind, proto, _, address = infos[0]
    try:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            probe.bind(address)
    except OSError as exc:
        raise common.CliError(f"cannot listen on {host}:{port}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__


def register(app: typer.Typer) -> None:
    """Add the ``sandbox`` command to ``app``."""

    @app.command("sandbox")
    def sandbox(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(8780, "--port", help="Port to listen on."),
        events_api: bool = typer.Option(
            False,
            "--events-api/--no-events-api",
            help="Serve job events over the API instead of Alma's 60332.",
        ),
        job_seconds: float = typer.Option(3.0, "--job-seconds", help="How long each Alma job instance runs."),
        rate_limit: int = typer.Option(
            25, "--rate-limit", help="Alma requests per second per API key (0: none)."
        ),
        daily_quota: int = typer.Option(100_000, "--daily-quota", help="Alma requests allowed per day."),
        profile_api: bool = typer.Option(
            False,
            "--profile-api/--no-profile-api",
            help="Allow op=run on the Handle profile job (default: 402248, as Alma).",
        ),
        resolver_latency_ms: float = typer.Option(
            0.0, "--resolver-latency-ms", help="Delay of each Handle proxy lookup."
        ),
        resolver_fail_every: int = typer.Option(
            0, "--resolver-fail-every", help="Every Nth Handle proxy lookup fails (500, RC 2)."
        ),
        fail_job: str = typer.Option(
            "", "--fail-job", help='A JSON object, e.g. {"M48402": "FAILED"}: those jobs end in that status.'
        ),
        public_url: str = typer.Option(
            "", "--public-url", help="Base URL used in links and handle targets (default http://HOST:PORT)."
        ),
        webhook_url: str = typer.Option(
            "", "--webhook-url", help="Send a signed JOB_END event here as each job ends (handles webhook)."
        ),
        webhook_secret: str = typer.Option(
            "", "--webhook-secret", help="The events' signing secret: ALMA_WEBHOOK_SECRET of the listener."
        ),
    ) -> None:
        """Run the built-in simulator (Alma, Handle proxy, Handle server, target pages) on one port."""
        if not 1 <= port <= 65535:
            raise common.CliError(f"--port {port}: a port is a number from 1 to 65535", code=2)
        _check_listen(host, port)
        try:
            failures = json.loads(fail_job) if fail_job else {}
        except ValueError:
            raise common.CliError("--fail-job: not JSON") from None
        switches = dict(
            events_api=events_api,
            job_seconds=job_seconds,
            rate_limit_per_second=rate_limit,
            daily_quota=daily_quota,
            profile_api=profile_api,
            resolver_latency_ms=resolver_latency_ms,
            resolver_fail_every=resolver_fail_every,
            fail_job=failures,
        )
        if public_url:
            switches["base_url"] = public_url.rstrip("/")
        if webhook_url:
            if not webhook_url.startswith(("http://", "https://")):
                raise common.CliError(
                    "--webhook-url: give the listener's http:// or https:// address", code=2
                )
            switches["webhook_url"] = webhook_url
        if webhook_secret:
            switches["webhook_secret"] = webhook_secret
        elif webhook_url:
            raise common.CliError("--webhook-url needs --webhook-secret (the listener's secret)", code=2)
        typer.echo(
            f"handles sandbox: http://{host}:{port} (Alma /almaws/v1, key sandbox-key; "
            f"Handle proxy /api/handles; Handle server /handle-server; control /sandbox)"
        )
        if webhook_url:
            typer.echo(f"handles sandbox: JOB_END events go to {webhook_url} (signed)")
        try:
            serve(host=host, port=port, **switches)
        except ValueError as exc:
            raise common.CliError(str(exc), code=2) from None
