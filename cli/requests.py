"""``handles request …``: the request queue of the institution's own Handle server."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer

from cli import common, render
from handles.naming import NamingError, new_handle
from handles.requests import UnknownRequest, get_request, list_requests, queue_request, request_as_dict
from store.db import session_scope
from store.models import RequestStatus
from tasks.requests import enqueue

request_app = typer.Typer(
    help="Queue create/update/delete requests for the institution's own Handle server.", no_args_is_help=True
)

_FIELDS = ("id", "op", "handle", "url", "attempts", "status", "response", "error")


def enqueue_request(request_id: int) -> str | None:
    """Send the task; returns a warning when the broker is unreachable (the dispatcher retries)."""
    try:
        enqueue(request_id)
    except Exception as exc:  # noqa: BLE001
        return f"not sent to a worker yet ({common.describe_error(exc)}); the dispatcher will send it"
    return None


def _queue(op: str, handle: str, url: str | None, *, show_handle: bool = False) -> None:
    settings = common.settings()
    if not settings.has_own_handle_server:
        raise common.CliError(
            "HANDLE_SERVER_URL=none: Ex Libris hosts your handles, so there is no Handle server to send "
            "requests to; ask Ex Libris support (`handles repair-conflicts RUN_ID` writes the case)"
        )
    engine = common.ready_database()
    with session_scope(engine) as session:
        row = queue_request(session=session, op=op, handle=handle, url=url, settings=settings)
    if row.status == "error":
        raise common.CliError(f"request {row.id} refused: {row.error}")
    warning = enqueue_request(int(row.id))  # type: ignore[arg-type]
    print(f"{row.id} {row.handle}" if show_handle else row.id)
    if warning:
        common.err_console.print(f"handles: warning: request {row.id} {warning}", markup=False)


@request_app.command("create")
def create(
    handle: str = typer.Argument(..., help="The handle to create, as prefix/suffix, e.g. 11084/99."),
    url: str = typer.Argument(..., help="Where it should resolve (http or https)."),
) -> None:
    """Create HANDLE → URL (fails if the handle exists); prints the request id."""
    _queue("create", handle, url)


@request_app.command("update")
def update(
    handle: str = typer.Argument(..., help="The handle to change, as prefix/suffix, e.g. 11084/99."),
    url: str = typer.Argument(..., help="Where it should resolve from now on (http or https)."),
) -> None:
    """Point HANDLE at URL (fails if it is missing or deleted); prints the request id."""
    _queue("update", handle, url)


@request_app.command("delete")
def delete(
    handle: str = typer.Argument(..., help="The handle to delete, as prefix/suffix, e.g. 11084/99."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Delete without asking (for scripts)."),
) -> None:
    """Delete HANDLE (its request history is kept); asks first unless --yes; prints the request id."""
    if not yes:
        if not sys.stdin.isatty():
            raise common.CliError(
                f"not deleting {handle}: no terminal to ask; add --yes to delete it", code=2
            )
        if not typer.confirm(
            f"Delete handle {handle} from the Handle server? It stops resolving", default=False
        ):
            raise common.CliError(f"not deleting {handle}: not confirmed")
    _queue("delete", handle, None)


@request_app.command("new")
def new(
    url: str = typer.Argument(..., help="Where it should resolve (http or https)."),
    pid: str | None = typer.Option(
        None, "--pid", help="Repository PID, e.g. llgc-id:21 (the pid-datastream rule)."
    ),
    datastream: str | None = typer.Option(
        None, "--datastream", help="Datastream name or number, e.g. DC or 1."
    ),
    article: int | None = typer.Option(None, "--article", help="Article number (the ARTICLE datastream)."),
) -> None:
    """Create a handle named by HANDLE_SUFFIX_RULE (opaque, or PID-DSID); prints the request id and handle."""
    try:
        handle = new_handle(common.settings(), pid=pid, dsid=datastream, article=article)
    except NamingError as exc:
        raise common.CliError(str(exc)) from None
    _queue("create", handle, url, show_handle=True)


def _show(data: dict[str, Any]) -> None:
    for name in _FIELDS:
        if data.get(name) is not None or name in ("status", "attempts"):
            common.console.print(f"{name:>9}: {data.get(name)}", markup=False, highlight=False)


@request_app.command("status")
def status(
    request_id: int = typer.Argument(
        ..., metavar="ID", callback=common.db_id, help="The request id that create/update/delete printed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of text."),
) -> None:
    """A request's op, handle, url, attempts, status, the server's response and error.

    Exit status: 0 when the request succeeded or is still queued or running, 1 when it ended in error.
    """
    engine = common.ready_database()
    with session_scope(engine) as session:
        try:
            data = request_as_dict(get_request(session, request_id))
        except UnknownRequest as exc:
            raise common.CliError(str(exc)) from None
    if as_json:
        print(json.dumps(data, indent=2))
    else:
        _show(data)
    if data.get("status") == RequestStatus.ERROR:
        raise typer.Exit(1)


@request_app.command("list")
def list_(
    status: str | None = typer.Option(
        None, "--status", help="Only requests in this state: queued, running, success or error."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of text."),
) -> None:
    """The most recent requests (newest first)."""
    if status is not None and status not in {s.value for s in RequestStatus}:
        raise common.CliError(f"unknown status {status!r}: use queued, running, success or error", code=2)
    engine = common.ready_database()
    with session_scope(engine) as session:
        rows = [request_as_dict(r) for r in list_requests(session, status=status)]
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    if not rows:
        render.echo("no requests" + (f" with status {status}" if status else ""))
        return
    table = [[str(r["id"]), r["status"], r["op"], r["handle"], f"attempts {r['attempts']}"] for r in rows]
    header, *blocks = render.aligned_blocks(table, ["id", "status", "op", "handle", ""])
    lines = list(header)
    for r, block in zip(rows, blocks, strict=True):
        lines += block
        if r["url"]:  # a URL is never cut: too long for the screen, it is left to `request status`
            url = f"{render.INDENT}{r['url']}"
            fits = len(url) <= render.width()
            lines.append(url if fits else f"{render.INDENT}(URL: `handles request status {r['id']}`)")
        if r["error"]:
            lines += render.wrapped(f"error: {r['error']}", max_lines=2)
    render.echo(lines)


def register(app: typer.Typer) -> None:
    """Add ``request`` (create, update, delete, new, status, list)."""
    app.add_typer(request_app, name="request")
