"""The schema is Alembic's: one line of revisions, and the migrations build exactly the models' tables.

Several changes add revisions at the same time; two revisions off the same parent (two heads) or a
model column without a migration would leave an upgraded database unlike the code that uses it.
"""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

import store.models  # noqa: F401 - registers the tables on SQLModel.metadata
from store.db import alembic_config, make_engine


def test_the_revisions_form_one_line(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    script = ScriptDirectory.from_config(alembic_config(engine))
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"
    revisions = list(script.walk_revisions())
    assert len({r.revision for r in revisions}) == len(revisions)
    engine.dispose()


def test_an_upgraded_database_matches_the_models(engine) -> None:
    # the `engine` fixture upgrades a fresh SQLite and PostgreSQL database to head
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    # index and type nuances differ per dialect; tables and columns must be there
    missing = [d for d in diff if d[0] in ("add_table", "add_column", "remove_table", "remove_column")]
    assert missing == []
