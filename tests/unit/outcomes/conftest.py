"""Fixtures: a run with the three records of seed 000 (set 7593466560004641)."""

from __future__ import annotations

import pytest

from store.db import session_scope
from store.models import Record, Run

SEED_RECORDS = [
    # mms_id, pid, expected_handle, metadata_problem
    ("991011589491704641", "grinnell:88", "11084/88", None),
    ("991011507293904641", "grinnell:99", "11084/99", None),
    (
        "991011507142104641",
        "grinnell:32100",
        "11084/32100",
        'malformed: dc:identifier has xsi:type="dcterms:URI"',
    ),
]


@pytest.fixture
def seeded(engine):  # type: ignore[no-untyped-def]
    """(engine, run_id) with the seed's three records in set order."""
    with session_scope(engine) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        for position, (mms, pid, handle, problem) in enumerate(SEED_RECORDS):
            session.add(
                Record(
                    run_id=run.id,
                    position=position,
                    mms_id=mms,
                    pid=pid,
                    expected_handle=handle,
                    metadata_problem=problem,
                )
            )
        run_id = run.id
    return engine, run_id
