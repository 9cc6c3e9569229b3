"""Write a new Alembic revision from the models: ``python -m store.revision "why"``.

``--initial`` rewrites revision 0001 instead (only while nothing has been released).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from alembic import command

from store.db import make_engine, upgrade_schema
from store.schema import alembic_config

VERSIONS = Path(__file__).with_name("migrations") / "versions"


def main(argv: list[str]) -> None:
    initial = "--initial" in argv
    words = [a for a in argv if not a.startswith("--")]
    message = words[0] if words else "schema change"
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite:///{tmp}/rev.db")
        if initial:
            for old in VERSIONS.glob("0001_*.py"):
                old.unlink()
            command.revision(
                alembic_config(engine), message="initial schema", autogenerate=True, rev_id="0001"
            )
            return
        upgrade_schema(engine)
        existing = sorted(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
        next_id = f"{int(existing[-1]) + 1:04d}" if existing else "0001"
        command.revision(alembic_config(engine), message=message, autogenerate=True, rev_id=next_id)


if __name__ == "__main__":
    main(sys.argv[1:])
