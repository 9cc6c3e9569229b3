"""Item 8 of issue 15: `request delete` asks first; `request status` exits 1 on an errored request."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import cli.requests as cli_requests
from cli.main import app, main
from store.db import session_scope
from store.models import HandleRequest
from workers import resources


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    ids: list[int] = []
    monkeypatch.setattr(cli_requests, "enqueue_request", lambda rid: ids.append(rid))
    return ids


def invoke(*args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), input=stdin)


def test_delete_without_yes_and_without_a_terminal_is_refused_in_one_line(sent, capsys) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["request", "delete", "11084/99"])
    assert exit_.value.code == 2 and sent == []
    err = capsys.readouterr().err
    assert "--yes" in err and len(err.strip().splitlines()) == 1
    assert invoke("request", "delete", "11084/99", "--yes").exit_code == 0 and sent == [1]


def test_delete_asks_at_a_terminal(sent, monkeypatch) -> None:
    terminal = type("Terminal", (), {"isatty": staticmethod(lambda: True)})
    monkeypatch.setattr(cli_requests, "sys", type("Sys", (), {"stdin": terminal}))
    refused = invoke("request", "delete", "11084/99", stdin="n\n")
    assert refused.exit_code == 1 and sent == []
    agreed = invoke("request", "delete", "11084/99", stdin="y\n")
    assert agreed.exit_code == 0 and sent == [1]


def test_status_exits_1_when_the_request_ended_in_error(sent) -> None:
    assert invoke("request", "create", "11084/99", "https://t.example/99").exit_code == 0
    assert invoke("request", "status", "1").exit_code == 0
    with session_scope(resources.engine()) as session:
        row = session.get(HandleRequest, 1)
        assert row is not None
        row.status, row.error = "error", "HTTP 409: the handle already exists"
        session.add(row)
    result = invoke("request", "status", "1")
    assert result.exit_code == 1 and "already exists" in result.output
