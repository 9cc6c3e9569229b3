"""Item 8 of issue 15: help in one style, a description for every argument and option, 80 columns."""

from __future__ import annotations

import click
import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from cli.main import app

# moved to cli/events.py by another branch; its help texts are that branch's
ELSEWHERE: set[tuple[str, ...]] = set()


def _commands() -> list[tuple[tuple[str, ...], click.Command]]:
    root = typer.main.get_command(app)
    ctx = root.make_context("handles", [], resilient_parsing=True)
    found = []
    for name in root.list_commands(ctx):  # type: ignore[attr-defined]
        sub = root.get_command(ctx, name)  # type: ignore[attr-defined]  # imports the command's module
        if isinstance(sub, click.Group | TyperGroup):
            found += [((name, n), c) for n, c in sub.commands.items()]
        else:
            found.append(((name,), sub))
    return found


def test_every_argument_and_option_has_a_sentence() -> None:
    missing = [
        (" ".join(path), p.name, getattr(p, "help", None))
        for path, command in _commands()
        if path not in ELSEWHERE
        for p in command.params
        if p.name != "help"
        and not (
            (getattr(p, "help", None) or " ")[0].isupper()
            and (getattr(p, "help", None) or "").rstrip().endswith((".", ")"))
        )
    ]
    assert missing == []


@pytest.mark.parametrize("path", [path for path, _ in _commands()] + [()])
def test_help_fits_80_columns(path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    assert max(len(line) for line in result.output.splitlines()) <= 80
