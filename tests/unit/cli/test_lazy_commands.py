"""Issue 12 item 5: a command imports its own module only, when it runs (the CLI starts in half the time).

``cli.main.COMMANDS`` says where each command is registered; a command missing from it would not
exist, and one listed under the wrong module would load the wrong code.
"""

from __future__ import annotations

import subprocess
import sys

import typer

from cli.main import COMMANDS, registered
from tests.support import ROOT


def test_the_table_names_every_command_and_the_module_that_registers_it() -> None:
    modules = {p.stem for p in (ROOT / "cli").glob("*.py") if "\ndef register(" in p.read_text()}
    assert set(COMMANDS.values()) == modules
    for module in modules:
        names = set(typer.main.get_group(registered(module)).commands)
        assert names == {name for name, where in COMMANDS.items() if where == module}, module


def test_a_command_stopped_by_its_argument_imports_no_other_command_nor_alembic() -> None:
    heavy = [
        "cli.migrate",
        "cli.report",
        "cli.repair",
        "cli.verify",
        "cli.web",
        "cli.demo",
        "cli.sandbox_cmd",
    ]
    heavy += ["alembic", "openpyxl", "uvicorn", "tasks.pipeline", "alma.client"]
    code = (
        "import sys\n"
        "from cli.main import main\n"
        "try:\n"
        "    main(['status', '0'])\n"
        "except SystemExit as exc:\n"
        "    print(exc.code)\n"
        f"print(sorted(m for m in {heavy!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert out.stdout.splitlines() == ["2", "[]"], out.stderr
    assert "RUN_ID 0: not an id" in out.stderr
