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
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlmodel import col, select

from alma import AlmaClient
from alma.dc import parse_dc
from cli import common
from handles.syntax import HandleSyntaxError, parse_handle
from handles.verify import VerifyItem, VerifyResult, VerifySummary, record_checks, run_verification
from outcomes import sheets
from store.db import session_scope
from store.models import Record, Run
from store.runs import RunNotFound, get_run

_MMS = re.compile(r"^\d+$")
_COLUMNS = (sheets.HANDLE, sheets.MMS_ID)


@dataclass
class Source:
    """What to check: items (with a count for the progress bar), problems with the input, notes."""

    label: str
    items: list[VerifyItem] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    run_id: int | None = None


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
            source.problems.append(f"line {n}: {mms[:40]!r} is not an MMS id")
            continue
        _add(source, n, row[h_col], mms or None, prefix=prefix)


def _add(source: Source, n: int, text: str, mms: str | None, *, prefix: str) -> None:
    try:
        handle = parse_handle(text, expected_prefix=prefix)
    except HandleSyntaxError as exc:
        source.problems.append(f"line {n}: {exc}")
        return
    source.items.append(VerifyItem(handle=handle, mms_id=mms))


def from_set(session, settings, set_id: str) -> Source:  # type: ignore[no-untyped-def]
    """The newest run of the set in the database; else the set's members and bibs read from Alma."""
    run = session.exec(
        select(Run).where(Run.set_id == set_id).order_by(col(Run.created_at).desc(), col(Run.id).desc())
    ).first()
    if run is not None:
        source = from_run(session, run.id)
        source.label = f"set {set_id} (run {run.id}, its newest)"
        return source
    source = Source(label=f"set {set_id} (read from Alma: no run of it in the database)")
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
    try:
        get_run(session, run_id)
    except RunNotFound:
        raise common.CliError(f"unknown run {run_id}", code=2) from None
    rows = session.exec(
        select(Record.id, Record.expected_handle, Record.mms_id).where(Record.run_id == run_id)
    ).all()
    source = Source(label=f"run {run_id}", run_id=run_id)
    source.items = [VerifyItem(handle=h, mms_id=m, run_id=run_id, record_id=i) for i, h, m in rows if h]
    missing = sum(1 for _, h, _ in rows if not h)
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
    source: Source, settings, engine, *, show_progress: bool
) -> tuple[VerifySummary, list[VerifyResult]]:  # type: ignore[no-untyped-def]

    results: list[VerifyResult] = []
    regressions = [0]
    progress = Progress(
        TextColumn("verifying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=common.err_console,
        transient=True,
        disable=not show_progress,
    )
    with progress, session_scope(engine) as session:
        task = progress.add_task("verify", total=len(source.items))

        def advance(result: VerifyResult) -> None:
            results.append(result)
            progress.advance(task)

        def sink(batch: list[VerifyResult]) -> None:
            regressions[0] += sum(1 for check in record_checks(session, batch) if check.regression)
            session.commit()

        summary = run_verification(source.items, settings=settings, sink=sink, progress=advance)
        summary.regressions = regressions[0]
    return summary, results


def _print(source: Source, summary: VerifySummary, results: list[VerifyResult], as_json: bool) -> None:
    bad = [r for r in results if not r.ok]
    if as_json:
        print(
            json.dumps(
                {
                    "source": source.label,
                    "summary": summary.as_dict(),
                    "problems": source.problems,
                    "notes": source.notes,
                    "results": [r.as_dict() for r in results],
                },
                indent=2,
            )
        )
        return

    for line in source.problems:
        common.err_console.print(f"[yellow]input:[/] {line}", highlight=False, markup=True)
    if bad:
        table = Table(title="not ok", show_lines=False)
        for col in ("handle", "mms_id", "verification", "detail"):
            table.add_column(col)
        for r in sorted(bad, key=lambda r: r.handle)[:50]:
            table.add_row(r.handle, r.item.mms_id or "", r.verification, r.detail or "")
        common.console.print(table)
        if len(bad) > 50:
            common.console.print(f"… and {len(bad) - 50} more (use --json for all)")
    common.console.print(f"checked: {source.label}", highlight=False)
    table = Table(title="verification")
    table.add_column("verification")
    table.add_column("handles", justify="right")
    for key, value in summary.as_dict().items():
        if key in ("total", "no_target"):
            continue
        table.add_row(key, str(value))
    table.add_row("invalid input", str(len(source.problems)))
    table.add_row("total checked", str(summary.total))
    common.console.print(table)
    for note in source.notes:
        common.console.print(f"note: {note}", highlight=False)
    if summary.no_target:
        common.console.print(
            f"note: {summary.no_target} handles had no MMS id: 'ok' means they resolve; "
            "their targets were not compared",
            highlight=False,
        )


def verify_command(
    *, run: int | None, set_id: str | None, file: Path | None, as_json: bool, show_progress: bool = True
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
    summary, results = _check(source, settings, engine, show_progress=show_progress and not as_json)
    _print(source, summary, results, as_json)
    return exit_status(summary, source.problems)


def register(app: typer.Typer) -> None:
    """Add ``handles verify``."""

    @app.command("verify")
    def verify(
        run: int | None = typer.Option(None, "--run", help="verify the records of this run"),
        set_id: str | None = typer.Option(
            None, "--set", help="the newest run of this set, else the set in Alma"
        ),
        file: Path | None = typer.Option(
            None, "--file", help="one handle per line, or CSV with handle,mms_id"
        ),
        as_json: bool = typer.Option(False, "--json", help="print JSON instead of tables"),
    ) -> None:
        """Check that each handle resolves, and to its record's Primo page (exit 0 ok, 1 some not, 2 error)."""
        raise typer.Exit(verify_command(run=run, set_id=set_id, file=file, as_json=as_json))
