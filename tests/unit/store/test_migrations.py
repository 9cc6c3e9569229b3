"""The schema is Alembic's: one line of revisions, and the migrations build exactly the models' tables.

Several changes add revisions at the same time; two revisions off the same parent (two heads) or a
model column without a migration would leave an upgraded database unlike the code that uses it.
"""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import SQLModel

import store.models  # noqa: F401 - registers the tables on SQLModel.metadata
import store.schema
from store.db import make_engine, script_head, upgrade_schema
from store.schema import alembic_config


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


def test_the_head_read_without_alembic_is_alembics(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    assert script_head() == ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    engine.dispose()


def test_alembic_upgrades_a_database_below_head_and_is_spared_one_at_head(tmp_path, monkeypatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    upgrades: list[str] = []
    real = store.schema.upgrade
    monkeypatch.setattr(store.schema, "upgrade", lambda e: (upgrades.append("upgrade"), real(e)))
    upgrade_schema(engine)  # a new database: Alembic creates the tables
    assert upgrades == ["upgrade"]
    upgrade_schema(engine)  # at head: nothing to do, and Alembic is not asked
    assert upgrades == ["upgrade"]
    script = ScriptDirectory.from_config(alembic_config(engine))
    below = script.get_revision(script.get_current_head()).down_revision
    command.downgrade(alembic_config(engine), below)
    upgrade_schema(engine)  # one revision behind: Alembic upgrades it
    assert upgrades == ["upgrade", "upgrade"]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one() == script_head()
    engine.dispose()
