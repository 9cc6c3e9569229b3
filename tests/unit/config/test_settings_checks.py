"""Issue 13 items 7 and 8: settings that are checked, with one line that never shows a password."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from config.settings import SettingsError, load_or_exit, load_settings
from tests.support import ROOT


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("LOG_LEVEL", "LOUD", "not a log level"),
        ("VERIFY_SCHEDULE", "61 2 * * *", "minute '61'"),
        ("VERIFY_SCHEDULE", "0 2 * *", "five fields"),
        ("VERIFY_SCHEDULE", "0 2 * * funday", "day of week"),
        ("CELERY_BROKER_URL", "http://user:hunter22@broker/0", "not a broker URL"),
        ("CELERY_BROKER_URL", "localhost:6379", "not a broker URL"),
        ("REDIS_URL", "amqp://user:hunter22@host//", "not a Redis URL"),
        ("DATABASE_URL", "postgresql://user:hunter22@host:port/db", "not a database URL"),
        ("ALMA_API_BASE_URL", "ftp://user:hunter22@alma.example", "not an http(s) URL"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it_without_its_password(monkeypatch, name, value, words) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        load_settings()
    text = str(info.value)
    assert text.startswith(f"{name}: ")
    assert words in text
    assert "\n" not in text
    assert "hunter22" not in text


@pytest.mark.parametrize(
    ("name", "value", "attr", "expected"),
    [
        ("LOG_LEVEL", "warn", "log_level", "WARNING"),
        ("LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("VERIFY_SCHEDULE", "30 1 * * mon-fri", "verify_schedule", "30 1 * * mon-fri"),
        ("CELERY_BROKER_URL", "sqla+sqlite:///var/b.db", "celery_broker_url", "sqla+sqlite:///var/b.db"),
        (
            "CELERY_BROKER_URL",
            "redis://a:1/0;redis://b:2/0",
            "celery_broker_url",
            "redis://a:1/0;redis://b:2/0",
        ),
        ("CELERY_BROKER_URL", "amqp://guest@rabbit//", "celery_broker_url", "amqp://guest@rabbit//"),
    ],
)
def test_good_values_pass(monkeypatch, name, value, attr, expected) -> None:
    monkeypatch.setenv(name, value)
    assert getattr(load_settings(), attr) == expected


def test_load_or_exit_prints_one_line_and_exits_2(monkeypatch, capsys) -> None:
    from config.settings import get_settings

    monkeypatch.setenv("LOG_LEVEL", "LOUD")
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as info:
        load_or_exit("worker")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("worker: setting LOG_LEVEL: ")


def test_a_worker_started_with_a_bad_setting_says_one_line(tmp_path) -> None:
    """What `celery -A <app> worker` shows when its app module calls load_or_exit first."""
    (tmp_path / "h13app.py").write_text(
        textwrap.dedent(
            """
            from config.settings import load_or_exit

            settings = load_or_exit("worker")
            from celery import Celery

            app = Celery("h13")
            """
        )
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{tmp_path}:{ROOT}", "LOG_LEVEL": "LOUD"}
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "h13app", "worker", "--pool=solo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    assert lines == [
        "worker: setting LOG_LEVEL: 'LOUD' is not a log level: use one of DEBUG, INFO, WARNING, "
        "ERROR, CRITICAL"
    ]


@pytest.mark.parametrize("program", ["worker", "beat"])
def test_the_real_app_started_with_a_bad_setting_says_one_line(program) -> None:
    """`celery -A workers.app worker|beat` with a bad setting: one line naming it, no traceback."""
    env = {**os.environ, "LOG_LEVEL": "LOUD", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "workers.app", program],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert lines == [
        "celery: setting LOG_LEVEL: 'LOUD' is not a log level: use one of DEBUG, INFO, "
        "WARNING, ERROR, CRITICAL"
    ]
