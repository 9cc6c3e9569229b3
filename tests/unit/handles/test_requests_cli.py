"""``handles request …`` in process: exit statuses, printed ids, bad input refused in one line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import cli.requests as cli_requests
from cli.main import app


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(cli_requests, "enqueue_request", lambda rid: ids.append(rid))
    return ids


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args))


def test_create_prints_the_id_and_enqueues_it(sent):
    result = invoke("request", "create", "11084/99", "https://t.example/99")
    assert result.exit_code == 0 and result.stdout.strip() == "1" and sent == [1]
    shown = json.loads(invoke("request", "status", "1", "--json").stdout)
    assert (shown["op"], shown["handle"], shown["status"], shown["attempts"]) == (
        "create",
        "11084/99",
        "queued",
        0,
    )


def test_bad_input_is_refused_stored_and_not_enqueued(sent):
    result = invoke("request", "update", "11084/1", "ftp://t.example/")
    assert result.exit_code == 1 and sent == []
    rows = json.loads(invoke("request", "list", "--status", "error", "--json").stdout)
    assert len(rows) == 1 and "http:// or https://" in rows[0]["error"]


def test_unknown_id_and_status_fail(sent):
    assert invoke("request", "status", "42").exit_code != 0
    assert invoke("request", "list", "--status", "nope").exit_code != 0


def test_new_names_the_handle_by_the_seed_002_rule(sent, monkeypatch):
    monkeypatch.setenv("HANDLE_PREFIX", "10107")
    monkeypatch.setenv("HANDLE_SUFFIX_RULE", "pid-datastream")
    result = invoke("request", "new", "https://t.example/dc", "--pid", "llgc-id:21", "--datastream", "DC")
    assert result.exit_code == 0 and result.stdout.split() == ["1", "10107/21-1"]
