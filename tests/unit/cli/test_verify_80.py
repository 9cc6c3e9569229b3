"""Items 3 and 8 of issue 15: verify counts per verdict, then the problems (capped), in 80 columns;
progress lines when stderr is not a terminal."""

from __future__ import annotations

from cli.main import main
from cli.progress import progress_reporter
from tests.unit.handles.test_verify_cli import fake_resolver  # noqa: F401 - a fixture


def test_verify_file_groups_and_caps_the_problems(fake_resolver, tmp_path, capsys, monkeypatch) -> None:  # noqa: F811
    monkeypatch.setenv("COLUMNS", "80")
    mms = [f"99101158949{n:03d}4641" for n in range(30)]
    lines = ["handle,mms_id", "11084/1,1"] + [
        f"11084/gone-{n:03d}-with-a-long-suffix,{m}" for n, m in enumerate(mms)
    ]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n")
    try:
        main(["verify", "--file", str(path)])
    except SystemExit as exc:
        assert exc.code == 1
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert out.index("not_found") < out.index("not ok (30)")  # counts first
    for n in range(20):
        assert f"11084/gone-{n:03d}-with-a-long-suffix" in out and mms[n] in out
    assert "… and 10 more" in out and "11084/gone-025" not in out
    main_all = []
    try:
        main(["verify", "--file", str(path), "--all"])
    except SystemExit:
        main_all.append(capsys.readouterr().out)
    assert all(f"11084/gone-{n:03d}-with-a-long-suffix" in main_all[0] for n in range(30))


def test_progress_without_a_terminal_is_a_line_now_and_then(capsys) -> None:
    class Result:
        ok = False

    with progress_reporter(5, "run 8", terminal=False, every=0.0) as advance:
        for _ in range(5):
            advance(Result())
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "verifying run 8: 5 handles to check"
    assert err[-1] == "verifying run 8: 5 of 5 checked (100%), 5 not ok"
    assert len(err) >= 3
