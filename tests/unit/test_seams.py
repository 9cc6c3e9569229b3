"""The seams of issue 12: a cheap, lazy Celery app; workers send the recovery task by name."""

from __future__ import annotations

import subprocess
import sys

from tests.support import ROOT


def test_importing_the_app_and_the_cli_configures_nothing() -> None:
    code = (
        "import sys, cli.main, workers.app as w\n"
        "print(w.app.configured, sorted(m for m in sys.modules if m.startswith('tasks.verify')))\n"
        "print(w.app.conf.task_default_queue, w.app.configured)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["False []", "handles True"]


def test_a_consumer_start_sends_the_resume_check_by_name() -> None:
    from workers.signals import ResumeOnConnect

    sent: list[tuple[str, dict]] = []

    class App:
        def send_task(self, name: str, kwargs: dict) -> None:
            sent.append((name, kwargs))

    class Consumer:
        app = App()

    step = ResumeOnConnect.__new__(ResumeOnConnect)
    step.start(Consumer())
    assert sent == [("handles.resume_stalled", {"force": True})]
