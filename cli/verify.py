"""``handles verify (--run RUN_ID | --set SET_ID | --file FILE) [--json]``.

Exit status (CONTRACT.md): 0 when every handle resolves to its expected target; 1 when some do
not (wrong target, not found, or a line of the file that is not a usable handle); 2 on error (bad
arguments, an unreadable or empty file, the database or Alma unreachable, or a handle the resolver
could not answer for, so the check is incomplete).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import typer
from sqlmodel import col, select

from alma import AlmaClient
from alma.dc import parse_dc
from cli import common, render, verify_view
from cli.progress import progress_reporter
from config.redact import scrub
from handles.claims import claim_note, shared_claims
from handles.syntax import HandleSyntaxError, handle_key, parse_handle
from handles.verdict import VerifyItem, VerifyResult, VerifySummary
from handles.verify import record_checks, run_verification
from outcomes import sheets
from outcomes.current import current_records
from pipeline.errors import InvalidSetId
from pipeline.runs import validate_set_id
from store.db import session_scope
from store.models import Run
from store.runs import RunNotFound, get_run

_MMS = re.compile(r"^[0-9]+$")  # ASCII digits only: Alma's ids are
_COLUMNS = (sheets.HANDLE, sheets.MMS_ID)


@dataclass
class Source:
    """What to check: items (with a count for the progress bar), problems with the input, notes."""

    label: str
    items: list[VerifyItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None


#: what is echoed of a line of the file: at most this many characters, controls and escapes removed
SHOWN = 120


def _shown(text: str) -> str:
    """A piece of the file fit to echo: one line, no terminal escapes, at most :data:`SHOWN` chars."""
    return scrub(text, limit=SHOWN)


def read_file(path: Path, *, prefix: str) -> Source:
    """Read one handle per line, or a table (CSV with any common delimiter, XLSX) with a handle column.

    The file is read by :mod:`outcomes.sheets`: UTF-8, UTF-16 with BOM or Windows-1252 text, headers
    matched loosely (``Handle URL``, ``MMS ID``… as the library's own export spells them).
    """
    source = Source(label=str(path))
    try:
        if sheets.file_kind(path) == "xlsx":
            _read_table(sheets.read_table(path, _COLUMNS), source, prefix=prefix)
            return source
        encoding = sheets.text_encoding(path)
        numbered: list[tuple[int, str]] = []
        for n, line in enumerate(sheets.text_lines(path, encoding), 1):
            text = line.lstrip("\ufeff") if n == 1 else line
            if text.strip() and not text.lstrip().startswith("#"):
                if not numbered and _header(text.strip()):  # the file is a table
                    _read_table(sheets.csv_table(path, encoding, _COLUMNS), source, prefix=prefix)
                    return source
                numbered.append((n, text))
    except sheets.SheetError as exc:
        raise common.CliError(f"{path}: {exc}", code=2) from None
    if not numbered:
        raise common.CliError(f"{path}: the file is empty: no handles to check", code=2)
    for n, line in numbered:
        _add(source, n, line, None, prefix=prefix)
    source.notes.append("plain list: no MMS ids, so 'ok' means the handle resolves (targets not compared)")
    return source


def _header(first: str) -> bool:
    """Whether a file's first line is a table's header rather than the first handle of a list."""
    if not _not_a_handle(first):
        return False
    return any(d in first for d in sheets.DELIMITERS) or sheets.header_of(first, _COLUMNS) is not None


def _not_a_handle(text: str) -> bool:
    try:
        parse_handle(text)
    except HandleSyntaxError:
        return True
    return False


def _read_table(table: sheets.Table, source: Source, *, prefix: str) -> None:
    """The items of a table whose header names a handle column (and perhaps an MMS id column)."""
    h_col = table.index[sheets.HANDLE.name]
    m_col = table.index.get(sheets.MMS_ID.name)
    if m_col is None:
        source.notes.append(
            "the file has no mms_id column: 'ok' means the handle resolves (targets not compared)"
        )
    for n, row in table.rows:
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(h_col, m_col or 0):
            source.problems.append(f"line {n}: expected {len(table.header)} columns, found {len(row)}")
            continue
        mms = row[m_col].strip() if m_col is not None else ""
        if mms and not _MMS.match(mms):
            source.problems.append(f"line {n}: {_shown(repr(mms))} is not an MMS id")
            continue
        _add(source, n, row[h_col], mms or None, prefix=prefix)


def _add(source: Source, n: int, text: str, mms: str | None, *, prefix: str) -> None:
    try:
        handle = parse_handle(text, expected_prefix=prefix)
    except HandleSyntaxError as exc:
        source.problems.append(f"line {n}: {_shown(str(exc))}")
        return
    source.items.append(VerifyItem(handle=handle, mms_id=mms))


def from_set(session, settings, set_id: str) -> Source:  # type: ignore[no-untyped-def]
    """The newest run of the set in the database; else the set's members and bibs read from Alma."""
    try:
        set_id = validate_set_id(set_id)
    except InvalidSetId as exc:
        raise common.CliError(str(exc), code=2) from None
    run = session.exec(
        select(Run).where(Run.set_id == set_id).order_by(col(Run.created_at).desc(), col(Run.id).desc())
    ).first()
    if run is not None:
        source = from_run(session, run.id)
        source.label = f"set {set_id} (run {run.id}, its newest)"
        return source
    source = Source(label=f"set {set_id} (read from Alma: no run of it in the database)")
    render.echo(f"reading set {set_id} and its bibs from Alma (no run of it in the database)", err=True)
    alma = AlmaClient.from_settings(settings)
    try:
        mms_ids = [m["id"] for m in alma.iter_set_members(set_id)]
        for bib in alma.get_bibs(mms_ids):
            try:
                dc = parse_dc(bib.record_xml, pid_pattern=settings.handle_pid_pattern)
            except Exception as exc:  # noqa: BLE001 - one unreadable bib is one line
                source.problems.append(f"mms {bib.mms_id}: {common.describe_error(exc)}")
                continue
            handle = dc.expected_handle(settings.handle_prefix)
            if handle is None:  # a malformed identifier still names a handle that can be resolved
                source.problems.append(
                    f"mms {bib.mms_id}: no handle under {settings.handle_prefix} in its metadata"
                )
                continue
            source.items.append(VerifyItem(handle=handle, mms_id=bib.mms_id))
    except common.CliError:
        raise
    except Exception as exc:  # noqa: BLE001 - Alma errors reach the operator as one line
        raise common.CliError(f"set {set_id}: {common.describe_error(exc)}", code=2) from None
    finally:
        alma.close()
    return source


def from_run(session, run_id: int) -> Source:  # type: ignore[no-untyped-def]
    """Each record's handle as the report shows it (a repaired record's from its child run)."""
    try:
        get_run(session, run_id)
    except RunNotFound:
        raise common.CliError(f"unknown run {run_id}", code=2) from None
    source = Source(label=f"run {run_id}", run_id=run_id)
    missing = 0
    for record in current_records(session, run_id):
        if not record.expected_handle:
            missing += 1
            continue
        source.items.append(
            VerifyItem(
                handle=record.expected_handle,
                mms_id=record.mms_id,
                run_id=record.source_run_id,
                record_id=record.record_id,
                suppressed=record.suppressed,
            )
        )
    if missing:
        source.notes.append(f"{missing} records have no expected handle and were not checked")
    return source


def exit_status(summary: VerifySummary, problems: list[str]) -> int:
    """2 when some check could not be made, 1 when something is not ok, else 0."""
    if summary.counts["error"]:
        return 2
    if problems or not summary.all_ok:
        return 1
    return 0


def _check(
    source: Source, settings, engine, *, show_progress: bool, record: bool
) -> tuple[VerifySummary, list[VerifyResult]]:  # type: ignore[no-untyped-def]
    """Check every item with progress on stderr; the history is written when ``record``."""
    results: list[VerifyResult] = []
    regressions = [0]
    report = progress_reporter(len(source.items), source.label, enabled=show_progress)
    with report as advance, session_scope(engine) as session:

        def collect(result: VerifyResult) -> None:
            results.append(result)
            advance(result)

        def sink(batch: list[VerifyResult]) -> None:
            if not record:
                return
            regressions[0] += sum(1 for check in record_checks(session, batch) if check.regression)
            session.commit()

        summary = run_verification(source.items, settings=settings, sink=sink, progress=collect)
        summary.regressions = regressions[0]
    return summary, results


def _result_dict(result: VerifyResult, claims: dict[str, list[str]]) -> dict[str, object]:
    """A result as JSON, with the other records that claim its handle (``claimed_by``), if any."""
    out = result.as_dict()
    claimants = claims.get(handle_key(result.handle))
    if claimants:
        out["claimed_by"] = [m for m in claimants if m != result.item.mms_id]
        note = claim_note(claimants, result.item.mms_id)
        out["detail"] = f"{out['detail']}; {note}" if out.get("detail") else note
    return out


def _claim_lines(claims: dict[str, list[str]], results: list[VerifyResult], *, show_all: bool) -> list[str]:
    """The handles more than one record claims, one per line with the records (never cut)."""
    if not claims:
        return []
    written: dict[str, str] = {}
    for r in sorted(results, key=lambda r: r.handle):  # results come as lookups finish: sort
        written.setdefault(handle_key(r.handle), r.handle)
    keys = sorted(claims)
    shown = keys if show_all else keys[: render.LIMIT]
    lines = [f"claimed by more than one record ({len(keys)})"]
    for key in shown:
        lines.append(f"  {written.get(key, key)}")
        lines += render.wrapped("records (MMS id): " + ", ".join(claims[key]), indent="    ", max_lines=None)
    lines += render.capped(len(keys), len(shown))
    lines += render.wrapped(
        "note: a handle resolves to one record; give the others their own handle", indent="", max_lines=None
    )
    return lines


def _print(
    source: Source,
    summary: VerifySummary,
    results: list[VerifyResult],
    as_json: bool,
    show_all: bool,
    claims: dict[str, list[str]] | None = None,
) -> None:
    claims = claims or {}
    if as_json:
        print(
            json.dumps(
                {
                    "source": source.label,
                    "summary": summary.as_dict(),
                    "problems": source.problems,
                    "notes": source.notes,
                    "shared_handles": {key: claimants for key, claimants in sorted(claims.items())},
                    "results": [_result_dict(r, claims) for r in results],
                },
                indent=2,
            )
        )
        return
    render.echo(verify_view.summary_lines(source.label, summary, len(source.problems)))
    render.echo(verify_view.problem_lines(source.problems, results, show_all=show_all))
    render.echo(_claim_lines(claims, results, show_all=show_all))
    notes = list(source.notes)
    if summary.no_target:
        notes.append(
            f"{summary.no_target} handles had no MMS id: 'ok' means they resolve; their targets were "
            "not compared"
        )
    for note in notes:
        render.echo(render.wrapped(f"note: {note}", indent="", max_lines=None))


def verify_command(
    *,
    run: int | None,
    set_id: str | None,
    file: Path | None,
    as_json: bool,
    show_progress: bool = True,
    show_all: bool = False,
    record: bool = False,
) -> int:
    """The command's work; returns the exit status."""
    chosen = [x for x in (run, set_id, file) if x is not None]
    if len(chosen) != 1:
        raise common.CliError("give exactly one of --run RUN_ID, --set SET_ID, --file FILE", code=2)
    settings = common.settings()
    source = read_file(file, prefix=settings.handle_prefix) if file is not None else None
    engine = common.ready_database()

    if source is None:
        with session_scope(engine) as session:
            if run is not None:
                source = from_run(session, run)
            else:
                assert set_id is not None  # exactly one of run, set_id, file: checked above
                source = from_set(session, settings, set_id)
    if not source.items and not source.problems:
        raise common.CliError(f"{source.label}: no handles to check", code=2)
    with session_scope(engine) as session:
        claims = shared_claims(session, source.items)
    summary, results = _check(
        source, settings, engine, show_progress=show_progress and not as_json, record=record or file is None
    )
    _print(source, summary, results, as_json, show_all, claims)
    return exit_status(summary, source.problems)


def register(app: typer.Typer) -> None:
    """Add ``handles verify``."""

    @app.command("verify")
    def verify(
        run: int | None = typer.Option(
            None, "--run", help="Verify the records of this run (RUN_ID).", callback=common.db_id
        ),
        set_id: str | None = typer.Option(
            None, "--set", help="Verify the newest run of this set (SET_ID), else the set read from Alma."
        ),
        file: Path | None = typer.Option(
            None, "--file", help="Verify a file: one handle per line, or CSV with handle,mms_id columns."
        ),
        as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of text."),
        show_all: bool = typer.Option(
            False, "--all", help=f"List every handle that is not ok, not only the first {render.LIMIT}."
        ),
        record: bool = typer.Option(
            False,
            "--record",
            help="Write a --file check to the verification history (--run and --set always do).",
        ),
    ) -> None:
        """Check that each handle resolves, and to its record's Primo page (exit 0 ok, 1 some not, 2 error)."""
        raise typer.Exit(
            verify_command(
                run=run, set_id=set_id, file=file, as_json=as_json, show_all=show_all, record=record
            )
        )
