"""``handles request …`` (the Handle server request queue) and ``handles repair-conflicts``."""

from __future__ import annotations

import json
from typing import Any

import typer

from cli import common
from handles.naming import NamingError, new_handle
from handles.requests import (
    UnknownRequest,
    UnknownRun,
    apply_conflict_repairs,
    get_request,
    list_requests,
    plan_conflict_repairs,
    queue_request,
    request_as_dict,
)
from handles.server import HandleAuthError, HandleServerClient
from store.db import session_scope
from store.models import RequestStatus
from tasks.requests import enqueue

request_app = typer.Typer(
    help="Queue create/update/delete requests for the institution's own Handle server.", no_args_is_help=True
)

_FIELDS = ("id", "op", "handle", "url", "attempts", "status", "response", "error")


def _enqueue(request_id: int) -> str | None:
    """Send the task; returns a warning when the broker is unreachable (the dispatcher retries)."""
    try:
        enqueue(request_id)
    except Exception as exc:  # noqa: BLE001
        return f"not sent to a worker yet ({common.describe_error(exc)}); the dispatcher will send it"
    return None


def _queue(op: str, handle: str, url: str | None, *, show_handle: bool = False) -> None:
    settings = common.settings()
    engine = common.ready_database()
    with session_scope(engine) as session:
        row = queue_request(session=session, op=op, handle=handle, url=url, settings=settings)
    if row.status == "error":
        raise common.CliError(f"request {row.id} refused: {row.error}")
    warning = _enqueue(int(row.id))  # type: ignore[arg-type]
    print(f"{row.id} {row.handle}" if show_handle else row.id)
    if warning:
        common.err_console.print(f"handles: warning: request {row.id} {warning}", markup=False)


@request_app.command("create")
def create(
    handle: str = typer.Argument(..., help="prefix/suffix, e.g. 11084/99"),
    url: str = typer.Argument(..., help="where it should resolve (http or https)"),
) -> None:
    """Create HANDLE → URL (fails if the handle exists); prints the request id."""
    _queue("create", handle, url)


@request_app.command("update")
def update(handle: str = typer.Argument(...), url: str = typer.Argument(...)) -> None:
    """Point HANDLE at URL (fails if it is missing or deleted); prints the request id."""
    _queue("update", handle, url)


@request_app.command("delete")
def delete(handle: str = typer.Argument(...)) -> None:
    """Delete HANDLE (its request history is kept); prints the request id."""
    _queue("delete", handle, None)


@request_app.command("new")
def new(
    url: str = typer.Argument(..., help="where it should resolve (http or https)"),
    pid: str | None = typer.Option(
        None, "--pid", help="repository PID, e.g. llgc-id:21 (pid-datastream rule)"
    ),
    datastream: str | None = typer.Option(
        None, "--datastream", help="datastream name or number, e.g. DC or 1"
    ),
    article: int | None = typer.Option(None, "--article", help="article number (ARTICLE datastream)"),
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
    request_id: int = typer.Argument(..., metavar="ID", callback=common.db_id),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """A request's op, handle, url, attempts, status, the server's response and error."""
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


@request_app.command("list")
def list_(
    status: str | None = typer.Option(None, "--status", help="queued, running, success or error"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
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
    for r in rows:
        print(
            f"{r['id']:>6}  {r['status']:<8} {r['op']:<6} {r['handle']}  {r['url'] or ''}  "
            f"attempts={r['attempts']}" + (f"  error={r['error']}" if r["error"] else "")
        )


def repair_conflicts(
    run_id: int = typer.Argument(..., metavar="RUN_ID", callback=common.db_id),
    apply: bool = typer.Option(False, "--apply", help="queue the requests (default: dry run)"),
    as_json: bool = typer.Option(False, "--json", help="print JSON"),
) -> None:
    """Show (dry run) or queue the Handle server requests that make each conflict record's
    expected handle resolve to the record's target."""
    settings = common.settings()
    engine = common.ready_database()
    with HandleServerClient.from_settings(settings) as client, session_scope(engine) as session:
        try:
            items = plan_conflict_repairs(session=session, run_id=run_id, client=client, settings=settings)
        except UnknownRun as exc:
            raise common.CliError(str(exc)) from None
        except HandleAuthError as exc:  # nothing queued: every handle would be refused alike
            raise common.CliError(
                f"the Handle server refused our credentials ({exc}): check HANDLE_SERVER_AUTH_ID and "
                "HANDLE_SERVER_SECRET (or HANDLE_SERVER_CERT and HANDLE_SERVER_KEY)"
            ) from None
        queued = (
            apply_conflict_repairs(session=session, run_id=run_id, items=items, settings=settings)
            if apply
            else []
        )
    warnings = [w for w in (_enqueue(int(r.id)) for r in queued if r.status == "queued") if w]  # type: ignore[arg-type]
    if as_json:
        print(
            json.dumps({"run_id": run_id, "applied": apply, "items": [i.as_dict() for i in items]}, indent=2)
        )
    else:
        verb = "queued" if apply else "would queue"
        for i in items:
            shown = i.action if i.action not in ("create", "update") else f"{verb} {i.action}"
            extra = f" request {i.request_id}" if i.request_id else ""
            print(
                f"{i.mms_id}  {i.expected_handle or '-'} (Alma: {i.alma_handle or '-'}) → {i.target}: "
                f"{shown}{extra}; {i.reason}"
            )
        todo = sum(i.action in ("create", "update") for i in items)
        print(
            f"{len(items)} conflict record(s); {todo} request(s) {verb}"
            + ("" if apply or not todo else "; run again with --apply to queue them")
        )
    if warnings:
        common.err_console.print(f"handles: warning: {warnings[0]}", markup=False)


def register(app: typer.Typer) -> None:
    """Add ``request`` (create, update, delete, status, list) and ``repair-conflicts``."""
    app.add_typer(request_app, name="request")
    app.command("repair-conflicts")(repair_conflicts)
