"""Engine, sessions, and the schema upgrade (Alembic's, in :mod:`store.schema`)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

__all__ = ["make_engine", "session_scope", "upgrade_schema"]

_VERSIONS = Path(__file__).with_name("migrations") / "versions"


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite files get their folder created, WAL, and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def upgrade_schema(engine: Engine) -> None:
    """Bring the database to the newest schema (idempotent; safe with data in it).

    Alembic (:mod:`store.schema`) costs a tenth of a second to import and start, which each command
    would pay: a database that already holds the newest revision is left as it is without it.
    """
    if _at_head(engine):
        return
    from store.schema import upgrade

    upgrade(engine)


def _at_head(engine: Engine) -> bool:
    """Whether the database's Alembic revision is :func:`script_head` (a connection error is raised)."""
    head = script_head()
    if head is None:
        return False
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return False
        return list(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()) == [head]


@lru_cache(maxsize=1)
def script_head() -> str | None:
    """The newest revision of the migration scripts, read from their ``revision`` and ``down_revision``
    assignments without Alembic; None unless they name exactly one head (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    try:
        for path in _VERSIONS.glob("*.py"):
            found: dict[str, object] = {}
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target, value = node.targets[0], node.value
                elif isinstance(node, ast.AnnAssign) and node.value is not None:
                    target, value = node.target, node.value
                else:
                    continue
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    found[target.id] = ast.literal_eval(value)
            revision, down = found.get("revision"), found.get("down_revision")
            if not isinstance(revision, str):
                return None
            revisions.add(revision)
            parents.update([down] if isinstance(down, str) else down or ())  # type: ignore[arg-type]
    except (OSError, SyntaxError, ValueError, TypeError):
        return None
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None
