"""The bad-input table of issue 13: each case a command line, the files and database it meets, and
what must come of it (exit status, the words of its one error line, the rows stored afterwards).

tests/test_bad_input.py runs every case through the real command line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tests import hostile
from tests.support import free_port

SECRET = "hunter22pw"
SET_ID = "7593466560004641"
GOOD = "7600000000004641"


@dataclass(frozen=True)
class Case:
    name: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    code: int = 1
    says: str = ""  # words the one line on stderr must hold
    # name → content (text, bytes, or a function making the bytes), in the working directory
    files: dict[str, str | bytes | Callable[[], bytes]] = field(default_factory=dict)
    run: bool = False  # a run of two records, its migration 11:30–11:50 CDT on 2025-09-30, stored first
    stored: dict[str, int] = field(default_factory=dict)  # table → rows expected afterwards (else none)
    stdout_has: str = ""
    retries_logged: bool = False  # the Alma client logs its retries on stderr before the error line
    seed: Callable[[str], None] | None = None  # fills the database (its URL) before the command
    output_max: int = 20_000  # what a bad input may make the command print, at most (characters)
    no_database: bool = False  # a command that only reads: the database file must not be created


def seed_repairable_run(db_url: str) -> None:
    """Run 1 of SET_ID with one malformed_identifier and one conflict record (as a finished run)."""
    from sqlmodel import Session

    from store.db import make_engine, upgrade_schema
    from store.models import Record, Run

    engine = make_engine(db_url)
    upgrade_schema(engine)
    with Session(engine) as session:
        session.add(Run(id=1, set_id=SET_ID, state="succeeded"))
        session.flush()  # the run before its records (no relationship tells the order)
        session.add_all(
            [
                Record(
                    run_id=1,
                    position=0,
                    mms_id="991011507142104641",
                    expected_handle="11084/32100",
                    outcome="malformed_identifier",
                    metadata_problem='malformed: xsi:type="dcterms:URI"',
                ),
                Record(
                    run_id=1,
                    position=1,
                    mms_id="991011589491704641",
                    expected_handle="11084/bad1",
                    alma_handle="11084/1742400039",
                    outcome="conflict",
                ),
            ]
        )
        session.commit()
    engine.dispose()


SEEDED = {"run": 1, "record": 2}
TOO_BIG = str(2**64)  # beyond the database's 64-bit ids
ARABIC_INDIC_SET = "٧٥٩٣٤٦٦٥٦٠٠٠٤٦٤١"  # "7593466560004641" in Arabic-Indic digits
FULLWIDTH_SET = "７５９３４６６５６０００４６４１"


def closed() -> str:
    return f"127.0.0.1:{free_port()}"


RUN = {"run": 1, "record": 2, "step": 1}  # what the prepared run stores: nothing more is expected
EVENTS = "Event Description,Event Date,Severity,Module,Creator\n"
CHICAGO = {"HANDLES_TIMEZONE": "America/Chicago"}


def _event(date: str) -> str:
    return f"{hostile.EVENT},{date},Information,Repository,System\n"


def prepare_run(db: Path) -> None:
    """A run whose migration instance ran 16:30–16:50 UTC (11:30–11:50 in Chicago)."""
    from sqlmodel import Session

    from store.db import make_engine, upgrade_schema
    from store.models import Record, Run, Step

    engine = make_engine(f"sqlite:///{db}")
    upgrade_schema(engine)
    with Session(engine) as session:
        run = Run(set_id=SET_ID)
        session.add(run)
        session.flush()
        assert run.id is not None
        for position, mms in enumerate(["991011507293904641", "991011589491704641"]):
            session.add(
                Record(run_id=run.id, position=position, mms_id=mms, expected_handle=f"11084/{position}")
            )
        started, ended = datetime(2025, 9, 30, 16, 30), datetime(2025, 9, 30, 16, 50)
        session.add(
            Step(
                run_id=run.id,
                kind="migration",
                position=1,
                status="succeeded",
                started_at=started,
                ended_at=ended,
            )
        )
        session.commit()
    engine.dispose()


CASES = [
    Case(
        "events import: a CSV with other headers (Description,Date) is refused, not read as text",
        ["events", "import", "1", "other.csv"],
        code=1,
        says="not an Events Report: found columns Description, Date",
        files={
            "other.csv": "Description,Date\n" + hostile.EVENT.replace("1742400039", "88") + ",30/11/2026\n"
        },
        run=True,
        stored=RUN,
    ),
    Case(
        "events import: a zip bomb (300 KB XLSX inflating to 314 MB)",
        ["events", "import", "1", "bomb.xlsx"],
        says="over the 200 MB limit",
        files={"bomb.xlsx": hostile.zip_bomb},
        run=True,
        stored=RUN,
    ),
    Case(
        "events import: an XLSX with a 50 MB attribute",
        ["events", "import", "1", "attribute.xlsx"],
        says="inflates over 200 times",
        files={"attribute.xlsx": hostile.long_attribute},
        run=True,
        stored=RUN,
    ),
    Case(
        "events import: an event longer than 8 KB",
        ["events", "import", "1", "long.csv"],
        says="event longer than 8,192 characters",
        files={"long.csv": EVENTS + _event("09/30/2025 11:35").replace("39,", "39 " + "x" * 9000 + ",")},
        run=True,
        stored=RUN,
    ),
    Case(
        "events import: another run's Events Report (dated before this run's migration)",
        ["events", "import", "1", "theirs.csv"],
        CHICAGO,
        says="outside run 1's migration (2025-09-30 11:30–11:50 CDT, ±5 min)",
        files={"theirs.csv": EVENTS + _event("09/30/2025 11:35:50 CDT") + _event("09/30/2025 11:20:00 CDT")},
        run=True,
        stored=RUN,
    ),
    Case(
        "events import: Excel's Unicode text (UTF-16) of this run's report is accepted",
        ["events", "import", "1", "ours.txt"],
        CHICAGO,
        code=0,
        files={"ours.txt": (EVENTS + _event("09/30/2025 11:35:50 CDT")).replace(",", "|").encode("utf-16")},
        run=True,
        stored={**RUN, "eventline": 1},
        stdout_has="1 new",
    ),
    Case(
        "verify --file: UTF-16 with BOM (Excel's Unicode text) is read",
        ["verify", "--file", "unicode.txt", "--record"],
        code=0,
        files={
            "unicode.txt": "MMS ID\tHandle URL\r\n991\thttp://hdl.handle.net/11084/bad1\r\n".encode("utf-16")
        },
        stored={"handlecheck": 1},
    ),
    Case(
        "verify --file: no usable column names the columns found and wanted",
        ["verify", "--file", "titles.csv"],
        code=2,
        says="no 'handle' column: found Title, Date; wanted 'Handle' (or Handle URL",
        files={"titles.csv": "Title;Date\nA history of Grinnell;1911\n"},
    ),
    Case(
        "verify --file: a directory is said to be one",
        ["verify", "--file", "."],
        code=2,
        says="is a directory",
    ),
    Case(
        "verify --file: a handle whose URL value is http://[x, among good ones",
        ["verify", "--file", "handles.csv", "--record"],
        code=2,
        files={"handles.csv": "handle,mms_id\n11084/bad1,991\n11084/bad2,992\n11084/bad3,993\n"},
        stored={"handlecheck": 3},  # all three checked (and recorded: --record): two ok, one error
        stdout_has="cannot be read",
    ),
    Case("status: LOG_LEVEL not a level", ["status"], {"LOG_LEVEL": "LOUD"}, 2, "LOG_LEVEL"),
    Case(
        "status: VERIFY_SCHEDULE minute 61",
        ["status"],
        {"VERIFY_SCHEDULE": "61 2 * * *"},
        2,
        "VERIFY_SCHEDULE",
    ),
    Case("status: VERIFY_SCHEDULE four fields", ["status"], {"VERIFY_SCHEDULE": "0 2 * *"}, 2, "five fields"),
    Case(
        "status: CELERY_BROKER_URL http:// with a password",
        ["status"],
        {"CELERY_BROKER_URL": f"http://user:{SECRET}@broker.example/0"},
        2,
        "CELERY_BROKER_URL",
    ),
    Case(
        "status: REDIS_URL not Redis",
        ["status"],
        {"REDIS_URL": f"amqp://u:{SECRET}@rabbit//"},
        2,
        "REDIS_URL",
    ),
    Case(
        "status: DATABASE_URL unreadable, with a password",
        ["status"],
        {"DATABASE_URL": f"postgresql://user:{SECRET}@db:notaport/x"},
        2,
        "DATABASE_URL",
    ),
    Case(
        "migrate: ALMA_API_BASE_URL not http(s), with credentials",
        ["migrate", SET_ID],
        {"ALMA_API_BASE_URL": f"ftp://user:{SECRET}@alma.example"},
        2,
        "ALMA_API_BASE_URL",
    ),
    Case(
        "migrate: credentials in ALMA_API_BASE_URL, Alma unreachable",
        ["migrate", SET_ID],
        {"ALMA_API_BASE_URL": f"http://user:{SECRET}@{closed()}", "ALMA_TIMEOUT_SECONDS": "2"},
        1,
        "cannot reach Alma at http://***@",
        retries_logged=True,
    ),
    Case(
        "migrate: broker unreachable → refused, no run stored",
        ["migrate", GOOD],
        {"CELERY_BROKER_URL": f"redis://:{SECRET}@{closed()}/0"},
        1,
        "no run recorded",
    ),
    Case("migrate: LOG_LEVEL not a level", ["migrate", GOOD], {"LOG_LEVEL": "chatty"}, 2, "LOG_LEVEL"),
    Case("migrate: set id with letters", ["migrate", "75934x"], {}, 2, "not an Alma set id"),
    Case("migrate: refused API key", ["migrate", GOOD], {"ALMA_API_KEY": SECRET}, 1, "ALMA_API_KEY"),
    # issue 13 item 9: output that misleads
    Case(
        "repair: refused API key (dry run)",
        ["repair", "1"],
        {"ALMA_API_KEY": SECRET},
        1,
        "ALMA_API_KEY",
        seed=seed_repairable_run,
        stored=SEEDED,
    ),
    Case(
        "repair --apply: refused API key, no backup stored",
        ["repair", "1", "--apply"],
        {"ALMA_API_KEY": SECRET},
        1,
        "ALMA_API_KEY",
        seed=seed_repairable_run,
        stored=SEEDED,
    ),
    Case(
        "repair-conflicts --apply: refused Handle server secret, nothing queued",
        ["repair-conflicts", "1", "--apply"],
        {"HANDLE_SERVER_SECRET": SECRET},
        1,
        "HANDLE_SERVER_SECRET",
        seed=seed_repairable_run,
        stored=SEEDED,
    ),
    Case("status: run id beyond 64 bits", ["status", TOO_BIG], {}, 2, "RUN_ID"),
    Case("status: run id 0", ["status", "0"], {}, 2, "RUN_ID"),
    Case("report: run id beyond 64 bits", ["report", TOO_BIG], {}, 2, "RUN_ID"),
    Case("repair: run id beyond 64 bits", ["repair", TOO_BIG], {}, 2, "RUN_ID"),
    Case("restore: run id beyond 64 bits", ["restore", TOO_BIG], {}, 2, "RUN_ID"),
    Case("confirm: run id beyond 64 bits", ["confirm", TOO_BIG], {}, 2, "RUN_ID"),
    Case("repair-conflicts: run id beyond 64 bits", ["repair-conflicts", TOO_BIG], {}, 2, "RUN_ID"),
    Case("events import: run id beyond 64 bits", ["events", "import", TOO_BIG, "e.csv"], {}, 2, "RUN_ID"),
    Case("verify --run: run id beyond 64 bits", ["verify", "--run", TOO_BIG], {}, 2, "--run"),
    Case("request status: id beyond 64 bits", ["request", "status", TOO_BIG], {}, 2, "ID"),
    # mistakes on the command line: one line naming the mistake and the help to read, not click's three
    Case("status: a run id that is not a number", ["status", "abc"], {}, 2, "RUN_ID: not a whole number"),
    Case("report: a run id that is not a number", ["report", "1x"], {}, 2, "(handles report --help)"),
    Case("events import: run id not a number", ["events", "import", "x", "e.csv"], {}, 2, "RUN_ID: not a"),
    Case("verify --run: not a number", ["verify", "--run", "one"], {}, 2, "--run: not a whole number"),
    Case("request status: id not a number", ["request", "status", "x"], {}, 2, "ID: not a whole number"),
    Case("a command that does not exist", ["statu"], {}, 2, "Did you mean 'status'? (handles --help)"),
    Case("an option that does not exist", ["report", "1", "--bogus"], {}, 2, "No such option: --bogus"),
    Case("migrate: no set id", ["migrate"], {}, 2, "Missing argument"),
    Case(
        "verify --file: Excel 'Unicode text' (UTF-16 LE with BOM) is text",
        ["verify", "--file", "handles.txt", "--record"],
        code=0,
        files={"handles.txt": "11084/bad1\r\n11084/bad3\r\n".encode("utf-16")},
        stored={"handlecheck": 2},
    ),
    Case(
        "verify --file: UTF-16 BE with BOM is text",
        ["verify", "--file", "handles.txt", "--record"],
        code=0,
        files={"handles.txt": b"\xfe\xff" + "11084/bad1\n".encode("utf-16-be")},
        stored={"handlecheck": 1},
    ),
    Case(
        "verify --file: a 1 MB line with terminal escapes is not echoed",
        ["verify", "--file", "handles.txt", "--record"],
        code=2,
        files={"handles.txt": "11084/bad1\n\x1b]0;owned\x07\x1b[2J\x1b[31m" + "x" * 1_000_000 + "\n"},
        says="line longer than 262,144 characters",
        output_max=2000,  # refused in one line, nothing of the line echoed, its escapes never shown
    ),
    Case("verify --file: a directory", ["verify", "--file", "."], {}, 2, "is a directory"),
    Case("verify --file: no such file", ["verify", "--file", "nothere.txt"], {}, 2, "no such file"),
    Case(
        "migrate: set id in Arabic-Indic digits", ["migrate", ARABIC_INDIC_SET], {}, 2, "not an Alma set id"
    ),
    Case("migrate: set id in fullwidth digits", ["migrate", FULLWIDTH_SET], {}, 2, "not an Alma set id"),
    Case("sandbox: --port 99999", ["sandbox", "--port", "99999"], {}, 2, "1 to 65535"),
    Case(
        "repair-conflicts: --output is a file (no Handle server of one's own)",
        ["repair-conflicts", "1", "--output", "case.txt"],
        {"HANDLE_SERVER_URL": "none"},
        1,
        "--output case.txt is a file, not a directory",
        files={"case.txt": "notes"},
    ),
    Case(
        "request create: HANDLE_SERVER_URL=none, nothing queued",
        ["request", "create", "11084/99", "https://example.org/x"],
        {"HANDLE_SERVER_URL": "none"},
        1,
        "Ex Libris hosts your handles",
    ),
    Case(
        "repair-conflicts: HANDLE_SERVER_URL neither a URL nor none",
        ["repair-conflicts", "1"],
        {"HANDLE_SERVER_URL": "nowhere"},
        2,
        "(or none: Ex Libris hosts your handles)",
    ),
    Case("status: nothing has run here", ["status"], {}, 1, "nothing has run here yet", no_database=True),
    Case("status 3: nothing has run here", ["status", "3"], {}, 1, "(DATABASE_URL)", no_database=True),
    Case(
        "report: nothing has run here", ["report", "3"], {}, 1, "nothing has run here yet", no_database=True
    ),
    Case(
        "verify --run: nothing has run here",
        ["verify", "--run", "3"],
        {},
        2,
        "no database at",
        no_database=True,
    ),
    Case(
        "rerun: nothing has run here",
        ["rerun", "3", "--outcome", "failed"],
        {},
        1,
        "nothing has run here yet",
        no_database=True,
    ),
]
