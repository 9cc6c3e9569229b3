"""``handles verify`` says, per handle, when more than one record claims it (every source)."""

from __future__ import annotations

import json

from sqlmodel import Session

from store.models import Record, Run
from tests.unit.handles.test_verify_cli import fake_resolver, run_cli, write  # noqa: F401 - fixture

TEMPLATE = "https://primo.example/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL"


def _records(rows: list[tuple[str, str, str]]) -> dict[str, int]:
    """Runs of sets with records (set id, MMS id, handle); set id → run id."""
    from cli import common
    from handles.syntax import handle_key
    from workers import resources

    common.ready_database()
    runs: dict[str, int] = {}
    with Session(resources.engine()) as session:
        for set_id, mms, handle in rows:
            if set_id not in runs:
                run = Run(set_id=set_id)
                session.add(run)
                session.commit()
                assert run.id is not None
                runs[set_id] = run.id
            session.add(
                Record(run_id=runs[set_id], mms_id=mms, expected_handle=handle, handle_key=handle_key(handle))
            )
        session.commit()
    return runs


def test_file_two_records_claim_one_handle_in_any_letter_case(tmp_path, fake_resolver, capsys) -> None:  # noqa: F811
    path = write(tmp_path, "handle,mms_id\n11084/1,1\n11084/DupA,7\n11084/dupa,8\n", "in.csv")
    run_cli(["verify", "--file", str(path), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["shared_handles"] == {"11084/DUPA": ["7", "8"]}
    by_mms = {r["mms_id"]: r for r in out["results"]}
    assert by_mms["7"]["claimed_by"] == ["8"] and by_mms["8"]["claimed_by"] == ["7"]
    assert "claimed by more than one record: MMS 8" in by_mms["7"]["detail"]
    assert "claimed_by" not in by_mms["1"]
    # the table says so too
    run_cli(["verify", "--file", str(path)])
    text = capsys.readouterr().out
    assert (
        text.count("claimed by more than one record") == 1
        and "  11084/DupA\n    records (MMS id): 7, 8" in text
    )


def test_run_and_set_sources_see_claims_of_other_runs(fake_resolver, capsys) -> None:  # noqa: F811
    runs = _records(
        [
            ("7000000000000001", "11", "11084/1"),
            ("7000000000000001", "12", "11084/2"),
            ("7000000000000002", "21", "11084/1"),  # another run: another record claims 11084/1
            ("7000000000000002", "12", "11084/2"),  # the same record in another run: no claim
        ]
    )
    run_cli(["verify", "--run", str(runs["7000000000000001"]), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["shared_handles"] == {"11084/1": ["11", "21"]}
    by_mms = {r["mms_id"]: r for r in out["results"]}
    assert by_mms["11"]["claimed_by"] == ["21"] and "claimed_by" not in by_mms["12"]
    run_cli(["verify", "--set", "7000000000000002", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["shared_handles"] == {"11084/1": ["11", "21"]}


def test_a_plain_list_names_no_records_so_claims_nothing(tmp_path, fake_resolver, capsys) -> None:  # noqa: F811
    path = write(tmp_path, "11084/1\n11084/1\n")
    run_cli(["verify", "--file", str(path), "--json"])
    assert json.loads(capsys.readouterr().out)["shared_handles"] == {}
