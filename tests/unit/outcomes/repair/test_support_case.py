"""Issue 11 item 8: without a Handle server of one's own, conflicts become an Ex Libris support case."""

from __future__ import annotations

import csv
from dataclasses import dataclass

import httpx
import pytest

from config.settings import SettingsError, load_settings
from handles.resolver import ResolverClient
from outcomes.repair.support_case import build_support_case, write_support_case
from store.db import session_scope
from store.models import Outcome, Record, Run

MMS_99, MMS_77, MMS_88 = "991011507293904641", "991011507000004641", "991011589491704641"
TARGET = "https://grinnell.primo.exlibrisgroup.com/discovery/fulldisplay/alma991011507293904641"


@dataclass
class Bib:
    mms_id: str
    title: str


class Titles:
    def get_bibs(self, ids):  # type: ignore[no-untyped-def]
        return [Bib(MMS_99, "Letter Two"), Bib(MMS_77, "=HYPERLINK(1)")]


def resolver_answers(request: httpx.Request) -> httpx.Response:
    handle = request.url.path.split("/api/handles/", 1)[1]
    if handle == "11084/99":
        return httpx.Response(404, json={"responseCode": 100, "handle": handle})
    if handle == "11084/1742400039":
        values = [{"index": 1, "type": "URL", "data": {"format": "string", "value": TARGET}}]
        return httpx.Response(200, json={"responseCode": 1, "handle": handle, "values": values})
    return httpx.Response(500, json={"responseCode": 2, "message": "server busy"})


def resolver() -> ResolverClient:
    return ResolverClient(
        "https://hdl.test", transport=httpx.MockTransport(resolver_answers), retries=1, backoff=0.0
    )


@pytest.fixture
def run_id(engine) -> int:
    with session_scope(engine) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        session.add_all(
            [
                Record(
                    run_id=run.id,
                    mms_id=MMS_99,
                    expected_handle="11084/99",
                    alma_handle="11084/1742400039",
                    outcome=Outcome.CONFLICT,
                ),
                Record(
                    run_id=run.id,
                    position=1,
                    mms_id=MMS_77,
                    expected_handle="11084/77",
                    alma_handle="11084/1742400077",
                    outcome=Outcome.CONFLICT,
                ),
                Record(
                    run_id=run.id, position=2, mms_id=MMS_88, expected_handle="11084/88", outcome="migrated"
                ),
            ]
        )
        return int(run.id)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["none", "None", " NONE "])
def test_handle_server_url_none_says_alma_hosts_the_handles(value):
    assert load_settings(HANDLE_SERVER_URL=value).has_own_handle_server is False
    assert load_settings().has_own_handle_server is True


def test_handle_server_url_that_is_neither_a_url_nor_none_is_refused():
    with pytest.raises(SettingsError, match=r"not an http\(s\) URL \(or none: Ex Libris hosts"):
        load_settings(HANDLE_SERVER_URL="nothing")


def test_support_case_lists_each_conflict_with_where_both_handles_resolve(engine, run_id, tmp_path):
    settings = load_settings(HANDLE_SERVER_URL="none")
    with session_scope(engine) as session:
        case = build_support_case(
            session=session, run_id=run_id, alma=Titles(), settings=settings, resolver=resolver
        )
    csv_path, text_path = write_support_case(case, tmp_path / "case")
    rows = list(csv.DictReader(csv_path.open(encoding="utf-8")))
    assert [r["mms_id"] for r in rows] == [MMS_99, MMS_77]
    first, second = rows
    assert first["title"] == "Letter Two" and second["title"] == "'=HYPERLINK(1)"
    assert (first["expected_handle"], first["alma_handle"]) == ("11084/99", "11084/1742400039")
    assert first["expected_handle_resolves_to"] == "not found (the handle does not exist)"
    assert first["alma_handle_resolves_to"] == TARGET
    assert first["record_target"] == settings.target_url(MMS_99)
    # a lookup that failed is an error, never "not found"
    assert second["expected_handle_resolves_to"].startswith("error: could not tell (HTTP 500")
    assert "not found" not in second["expected_handle_resolves_to"]
    text = text_path.read_text(encoding="utf-8")
    assert "2 digital records" in text and csv_path.name in text
    assert "register each expected handle" in text and "remove the sequential registrations" in text
    assert max(len(line) for line in text.splitlines()) <= 76  # fits 80 columns when quoted


def test_a_run_without_conflicts_makes_no_case(engine, tmp_path):
    with session_scope(engine) as session:
        run = Run(set_id="7593466560004641")
        session.add(run)
        session.flush()
        case = build_support_case(
            session=session,
            run_id=int(run.id),  # type: ignore[arg-type]
            alma=Titles(),
            settings=load_settings(HANDLE_SERVER_URL="none"),
            resolver=resolver,
        )
    assert case.rows == []
