"""``handles verify``: reading files (bad input: one line each, the rest still checked) and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from cli import common
from cli import verify as cli_verify
from cli.main import main
from handles import verify as service
from handles.verdict import VerifySummary
from workers import resources

TEMPLATE = "https://primo.example/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"


def write(tmp_path: Path, text: str, name: str = "in.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_plain_file_all_forms_and_bad_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "11084/99\nhdl:11084/100\n\n# comment\nhttp://hdl.handle.net/11084/101\n"
        "not-a-handle\n20.500.1/7\n11084/a b\n",
    )
    source = cli_verify.read_file(path, prefix="11084")
    assert [i.handle for i in source.items] == ["11084/99", "11084/100", "11084/101"]
    assert all(i.mms_id is None for i in source.items)
    assert len(source.problems) == 3
    assert source.problems[0].startswith("line 6:") and "no prefix/suffix" in source.problems[0]
    assert source.problems[1].startswith("line 7:") and "not under prefix 11084" in source.problems[1]
    assert source.problems[2].startswith("line 8:") and "white space" in source.problems[2]
    assert "targets not compared" in source.notes[0]


def test_csv_with_handle_and_mms_columns(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "mms_id,handle,title\n991,11084/1,A\n992,hdl:11084/2,B\nxyz,11084/3,C\n"
        "993,99999/4,D\n994\n,11084/5,E\n",
        "in.csv",
    )
    source = cli_verify.read_file(path, prefix="11084")
    assert [(i.handle, i.mms_id) for i in source.items] == [
        ("11084/1", "991"),
        ("11084/2", "992"),
        ("11084/5", None),
    ]
    assert [p.split(":")[0] for p in source.problems] == ["line 4", "line 5", "line 6"]
    assert source.notes == []


def test_csv_without_mms_column_checks_resolution_only(tmp_path: Path) -> None:
    source = cli_verify.read_file(write(tmp_path, "Handle;note\n11084/1;x\n", "in.csv"), prefix="11084")
    assert [(i.handle, i.mms_id) for i in source.items] == [("11084/1", None)]
    assert "no mms_id column" in source.notes[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("\n  \n# only a comment\n", "the file is empty"),
        ("mms_id,title\n991,A\n", "no 'handle' column"),
    ],
)
def test_unusable_files_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(common.CliError) as info:
        cli_verify.read_file(write(tmp_path, text), prefix="11084")
    assert message in str(info.value) and info.value.code == 2 and "\n" not in str(info.value)


def test_exit_status() -> None:
    summary = VerifySummary()
    assert cli_verify.exit_status(summary, []) == 0
    summary.counts["ok"] = 3
    assert cli_verify.exit_status(summary, []) == 0
    assert cli_verify.exit_status(summary, ["line 2: bad"]) == 1
    summary.counts["not_found"] = 1
    assert cli_verify.exit_status(summary, []) == 1
    summary.counts["error"] = 1
    assert cli_verify.exit_status(summary, []) == 2


@pytest.fixture
def fake_resolver(monkeypatch: pytest.MonkeyPatch):
    registry = {"11084/1": TEMPLATE.format(mms_id="1"), "11084/2": TEMPLATE.format(mms_id="9")}

    def handler(request: httpx.Request) -> httpx.Response:
        handle = request.url.path.removeprefix("/api/handles/")
        if handle == "11084/err":
            return httpx.Response(500, json={"responseCode": 2})
        if handle not in registry:
            return httpx.Response(404, json={"responseCode": 100})
        return httpx.Response(
            200,
            json={
                "responseCode": 1,
                "handle": handle,
                "values": [
                    {"index": 1, "type": "URL", "data": {"format": "string", "value": registry[handle]}}
                ],
            },
        )

    original = service.make_client

    def make_client(settings, *, transport=None, **kw):
        return original(
            settings, transport=httpx.MockTransport(handler), backoff=0, rate_per_host=0, retries=1
        )

    monkeypatch.setattr(service, "make_client", make_client)
    monkeypatch.setenv("HANDLE_TARGET_TEMPLATE", TEMPLATE)
    monkeypatch.setenv("HANDLE_RESOLVER_URL", "http://resolver.test")


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as info:
        main(args)
    return info.value.code


@pytest.mark.parametrize(
    ("lines", "status"),
    [
        ("handle,mms_id\n11084/1,1\n", 0),
        ("11084/1\n11084/2\n", 0),  # no MMS ids: resolving is enough
        ("handle,mms_id\n11084/1,1\n11084/2,2\n", 1),  # wrong target
        ("11084/1\n11084/404\n", 1),  # not found
        ("11084/1\nbad\n", 1),  # a bad line, the rest still checked
        ("11084/1\n11084/err\n", 2),  # the resolver failed: incomplete
    ],
)
def test_cli_exit_statuses(tmp_path, fake_resolver, capsys, lines: str, status: int) -> None:
    path = write(tmp_path, lines, "in.csv" if lines.startswith("handle") else "in.txt")
    assert run_cli(["verify", "--file", str(path), "--json"]) == status
    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["total"] == len(out["results"]) >= 1


def test_cli_json_and_history_and_regression(tmp_path, fake_resolver, capsys) -> None:
    path = write(tmp_path, "handle,mms_id\n11084/1,1\n11084/2,2\n11084/404,3\n", "in.csv")
    assert run_cli(["verify", "--file", str(path), "--json", "--record"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["summary"] | {} == {
        "ok": 1,
        "wrong_target": 1,
        "not_found": 1,
        "unpublished": 0,
        "error": 0,
        "total": 3,
        "no_target": 0,
        "regressions": 0,
    }
    verdicts = {r["handle"]: r["verification"] for r in out["results"]}
    assert verdicts == {"11084/1": "ok", "11084/2": "wrong_target", "11084/404": "not_found"}
    from sqlmodel import Session, select

    from store.models import HandleCheck
    from workers import resources

    with Session(resources.engine()) as session:
        assert len(session.exec(select(HandleCheck)).all()) == 3
    # 1 now points elsewhere: the table output shows it, and a regression is recorded
    path.write_text("handle,mms_id\n11084/1,5\n")
    assert run_cli(["verify", "--file", str(path), "--record"]) == 1
    text = capsys.readouterr().out
    assert "wrong_target" in text and "regressions" in text
    with Session(resources.engine()) as session:
        assert [c.handle for c in service.regressions(session)] == ["11084/1"]


def test_a_one_off_file_check_leaves_the_history_alone(tmp_path, fake_resolver, capsys) -> None:
    from sqlmodel import Session, select

    from store.models import HandleCheck
    from workers import resources

    path = write(tmp_path, "handle,mms_id\n11084/1,1\n11084/404,3\n", "in.csv")
    assert run_cli(["verify", "--file", str(path)]) == 1
    with Session(resources.engine()) as session:
        assert session.exec(select(HandleCheck)).all() == []
    assert run_cli(["verify", "--file", str(path), "--record"]) == 1
    with Session(resources.engine()) as session:
        assert len(session.exec(select(HandleCheck)).all()) == 2


def test_cli_needs_exactly_one_source(tmp_path, capsys) -> None:
    assert run_cli(["verify"]) == 2
    assert "exactly one of" in capsys.readouterr().err
    assert run_cli(["verify", "--run", "1", "--file", "x"]) == 2


def test_cli_unknown_run_and_missing_file(tmp_path, capsys) -> None:
    # with no database here, `verify --run` creates none and says so (issue 15)
    assert run_cli(["verify", "--run", "424242"]) == 2
    assert "nothing has run here yet" in capsys.readouterr().err
    resources.ensure_schema()
    assert run_cli(["verify", "--run", "424242"]) == 2
    assert "unknown run 424242" in capsys.readouterr().err
    assert run_cli(["verify", "--file", str(tmp_path / "nope.txt")]) == 2
    assert "cannot read" in capsys.readouterr().err
