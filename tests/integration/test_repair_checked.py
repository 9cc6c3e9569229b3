"""Repairs checked after the fact, and the support case, against the sandbox over real HTTP.

The sandbox's ``bib_put_mangle: "ns0"`` stores a bib PUT the way a damaging bulk edit did
(field-notes §6): the repair must notice, put the original back and say so. With
``HANDLE_SERVER_URL=none``, ``repair-conflicts`` writes the evidence for an Ex Libris case.
"""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest
from sqlmodel import select

from alma import AlmaClient
from config.settings import load_settings
from outcomes.repair.bib_xml import canonical_record
from outcomes.repair.metadata import apply_repairs
from sandbox.testing import running_sandbox
from store.db import session_scope
from store.models import BibBackup, Record, Run
from tests.support import ROOT, sandbox_env

pytestmark = pytest.mark.integration

G32100, G99 = "991011507142104641", "991011507293904641"


def test_a_repair_the_sandbox_stores_with_ns0_prefixes_is_undone(engine):
    with running_sandbox(bib_put_mangle="ns0", bib_put_mangle_times=1) as url:
        settings = load_settings(ALMA_API_BASE_URL=url, ALMA_API_KEY="sandbox-key")
        with AlmaClient.from_settings(settings) as alma:
            original = alma.get_bib_xml(G32100)
            assert "<dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>" not in original
            with session_scope(engine) as session:
                run = Run(set_id="7593466560004641")
                session.add(run)
                session.flush()
                session.add(
                    Record(
                        run_id=run.id,
                        mms_id=G32100,
                        pid="grinnell:32100",
                        expected_handle="11084/32100",
                        outcome="malformed_identifier",
                    )
                )
                session.commit()
                result = apply_repairs(session=session, run_id=run.id, alma=alma, settings=settings)
                run_id = run.id
            assert result.undone == [G32100] and result.repaired == []
            now = alma.get_bib_xml(G32100)
            assert "ns0:" not in now and canonical_record(now) == canonical_record(original)
            with session_scope(engine) as session:
                record = session.exec(select(Record)).one()
                assert record.detail.startswith(
                    "repair undone: Alma stored something other than intended (namespace prefixes ns0: added"
                ), record.detail
                backup = session.exec(select(BibBackup)).one()
                assert backup.state == "undone" and "<ns0:record" in (backup.stored_xml or "")
            # the sandbox behaves again (the switch was for one PUT): the repair goes through
            with session_scope(engine) as session:
                again = apply_repairs(session=session, run_id=run_id, alma=alma, settings=settings)
            assert again.repaired == [G32100]
            assert "<dc:identifier>http://hdl.handle.net/11084/32100</dc:identifier>" in alma.get_bib_xml(
                G32100
            )


def test_repair_conflicts_without_a_handle_server_writes_a_support_case(sandbox_url, redis_url, tmp_path):
    db = f"sqlite:///{tmp_path / 'case.db'}"
    from store.db import make_engine, upgrade_schema

    engine = make_engine(db)
    upgrade_schema(engine)
    with session_scope(engine) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        session.add(
            Record(
                run_id=run.id,
                mms_id=G99,
                expected_handle="11084/99",
                alma_handle="11084/1742400039",
                outcome="conflict",
            )
        )
        run_id = run.id
    engine.dispose()
    env = sandbox_env(sandbox_url, database_url=db, broker_url=redis_url, HANDLE_SERVER_URL="none")
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "repair-conflicts", str(run_id), "--output", "case"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"case/support-case-run-{run_id}.csv" in proc.stdout, proc.stdout
    rows = list(csv.DictReader((tmp_path / "case" / f"support-case-run-{run_id}.csv").open()))
    assert [(r["mms_id"], r["expected_handle"], r["alma_handle"]) for r in rows] == [
        (G99, "11084/99", "11084/1742400039")
    ]
    assert rows[0]["title"]  # read from Alma
    for column in ("expected_handle_resolves_to", "alma_handle_resolves_to"):
        assert rows[0][column] and not rows[0][column].startswith("error"), rows[0]
    assert (
        "Subject: handles to correct for 1 digital record (prefix 11084)"
        in (tmp_path / "case" / f"support-case-run-{run_id}.txt").read_text()
    )
