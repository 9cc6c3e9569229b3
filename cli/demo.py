"""``handles demo``: the whole job on a fresh machine, with nothing to install.

It starts the sandbox (the Alma and Handle simulator) and a real Celery worker (on local Redis when
one answers, else on an embedded SQLite broker), then runs the operator's own commands against them:
migrate the sample set with live progress, import the Events Report the way an operator exports it
from Alma's UI, run step 3 in Alma's UI when Alma refuses it by API (as it does for the Handle
profile's scheduled job: 402248), print the report and the verification summary, show the repairs
it would make, and stop everything it started. Everything it writes is under ``var/demo/``; a second run starts afresh.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import typer

from cli.common import CliError, err_console
from config.celery import reachable
from sandbox.testing import running_sandbox

DEMO_SET = "7600000000004641"
DEMO_DIR = Path("var/demo")
REDIS_DEMO_URL = "redis://127.0.0.1:6379/14"


def _broker(embedded: bool) -> tuple[str, str]:
    if not embedded and reachable(REDIS_DEMO_URL):
        return REDIS_DEMO_URL, "local Redis (database 14)"
    return (
        f"sqla+sqlite:///{(DEMO_DIR / 'broker.sqlite').resolve()}",
        "an embedded SQLite broker (no Redis found)",
    )


def _env(sandbox_url: str, broker: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ALMA_", "HANDLE_", "CELERY_", "DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        ALMA_API_BASE_URL=sandbox_url,
        ALMA_API_KEY="sandbox-key",
        HANDLE_RESOLVER_URL=sandbox_url,
        HANDLE_SERVER_URL=f"{sandbox_url}/handle-server",
        HANDLE_SERVER_SECRET="sandbox-handle-secret",
        HANDLE_TARGET_TEMPLATE=f"{sandbox_url}/discovery/fulldisplay/alma{{mms_id}}/01GCL_INST:GCL",
        DATABASE_URL=f"sqlite:///{(DEMO_DIR / 'handles.db').resolve()}",
        CELERY_BROKER_URL=broker,
        POLL_MIN_SECONDS="1",
        POLL_MAX_SECONDS="2",
        STALL_SECONDS="30",
        PYTHONUNBUFFERED="1",
        ALMA_PROFILE_MODE="auto",
    )
    if broker.startswith("redis"):
        env["REDIS_URL"] = broker
    return env


@contextmanager
def _worker(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    log_path = DEMO_DIR / "worker.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "workers.app",
                "worker",
                "--concurrency=2",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                "demo@%h",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while b" ready." not in log_path.read_bytes():
                if proc.poll() is not None or time.monotonic() > deadline:
                    tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                    raise CliError(f"the worker did not start (see {log_path}): {' / '.join(tail)}")
                time.sleep(0.2)
            yield proc
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


def _handles(env: dict[str, str], *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args], env=env, text=True, capture_output=capture, timeout=900
    )


def _say(text: str) -> None:
    err_console.print(f"\n[bold]» {text}[/bold]", highlight=False)


def demo(
    keep: bool = typer.Option(
        False, "--keep", help="Keep var/demo from an earlier run instead of starting afresh."
    ),
    events_api: bool = typer.Option(
        False, "--events-api", help="Let the sandbox serve the events report by API (most tenants get 60332)."
    ),
    embedded_broker: bool = typer.Option(
        False, "--embedded-broker", help="Use the embedded SQLite broker even when local Redis answers."
    ),
) -> None:
    """The whole job on this machine: sandbox, worker, a migration of the sample set, the report."""
    if not keep and DEMO_DIR.exists():
        shutil.rmtree(DEMO_DIR)
    DEMO_DIR.mkdir(parents=True, exist_ok=True)
    broker, broker_words = _broker(embedded_broker)
    # profile_api=False: the sandbox refuses op=run on the profile's job (402248) as Alma does
    with running_sandbox(job_seconds=3.0, events_api=events_api, profile_api=False) as url:
        env = _env(url, broker)
        _say(f"sandbox (Alma + Handle simulator) at {url}; broker: {broker_words}")
        if broker.startswith("redis"):
            subprocess.run(
                [sys.executable, "-m", "celery", "-A", "workers.app", "purge", "-f"],
                env=env,
                capture_output=True,
                timeout=60,
            )
        with _worker(env):
            _say(f"worker started (log: {DEMO_DIR / 'worker.log'})")
            run_id = _migrate(env, url)
            _after_run(env, url, run_id)
    _say(f"done: sandbox and worker stopped; files in {DEMO_DIR}/")
    err_console.print(
        textwrap.fill(
            f"next: open {DEMO_DIR / 'report.xlsx'} in Excel; on your own Alma, set ALMA_API_BASE_URL and "
            "ALMA_API_KEY, start `celery -A workers.app worker`, then `handles migrate SET_ID --wait` "
            "and follow it with `handles status RUN_ID`",
            width=min(err_console.width, 80),
        ),
        highlight=False,
        markup=False,
    )


def _json(env: dict[str, str], *args: str) -> Any:  # parsed JSON
    result = _handles(env, *args, "--json", capture=True)
    if result.returncode != 0:
        raise CliError(f"handles {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def _wait(what: str, done: Callable[[], object], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise CliError(f"the demo gave up waiting for {what}")
        time.sleep(1)


def _show_report(env: dict[str, str], run_id: str, path: Path) -> None:
    """The report as a librarian reads it at the console (the CSV is in ``path``)."""
    _say(f"handles report {run_id}   (the CSV is in {path}; --format xlsx for Excel)")
    _handles(env, "report", run_id, "--format", "text")


def _migrate(env: dict[str, str], url: str) -> str:
    """``handles migrate --wait`` in the background, answering its holds as an operator would."""
    _say(f"handles migrate {DEMO_SET} --wait")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "migrate", DEMO_SET, "--wait"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    if not run_id.isdigit():
        proc.wait()
        raise CliError("the demo migration could not be enqueued")
    imported = operated = False
    while proc.poll() is None:
        snap = _json(env, "status", run_id)
        reason = snap.get("wait_reason") or ""
        if not imported and reason.startswith("waiting for the Events Report"):
            _say("the run holds the profile step: " + reason)
            _import_events(env, url, run_id)
            imported = True
        if not operated and reason.startswith("waiting for the operator"):
            _run_profile_in_ui(url, run_id, reason)
            operated = True
        time.sleep(1)
    if proc.returncode != 0:
        raise CliError(f"the demo migration did not succeed (see {DEMO_DIR / 'worker.log'})")
    if not imported:
        _import_events(env, url, run_id)
    return run_id


def _run_profile_in_ui(url: str, run_id: str, reason: str) -> None:
    """Step 3 as an operator meets it: what to click in Alma, then the click (the sandbox's UI run)."""
    import httpx

    _say(f"run {run_id} waits for the operator; `handles status {run_id}` says what to do in Alma:")
    err_console.print(
        textwrap.fill(reason, width=78, initial_indent="  ", subsequent_indent="  "), highlight=False
    )
    profile_set = reason.split("(set ", 1)[1].split(")", 1)[0]
    answer = httpx.post(f"{url}/sandbox/ui/run-profile", json={"set_id": profile_set}, timeout=30)
    if answer.status_code != 200:
        raise CliError(f"the sandbox did not run the profile from its UI: {answer.text.strip()}")
    started = answer.json()
    _say(
        f"as an operator would: run the profile in Alma's UI on set {profile_set} "
        f"(POST /sandbox/ui/run-profile: instance {started['instance_id']}); the run finds it and goes on"
    )


def _import_events(env: dict[str, str], url: str, run_id: str) -> None:
    steps = {s["step"]: s for s in _json(env, "status", run_id)["steps"]}
    migration = steps["migration"]
    events = DEMO_DIR / "events-report.csv"
    exported = httpx.get(
        f"{url}/sandbox/events-report/{migration['alma_job_id']}/{migration['instance_id']}.csv", timeout=30
    )
    events.write_bytes(exported.content)
    _say(
        f"as an operator would: export the Events Report of instance {migration['instance_id']} from Alma's "
        f"UI (Alma's events API refuses these jobs with 60332) and import it:\n"
        f"  handles events import {run_id} {events}"
    )
    imported = _handles(env, "events", "import", run_id, str(events), capture=True)
    for line in imported.stdout.splitlines():
        err_console.print(
            textwrap.fill(line, width=min(err_console.width, 80)), highlight=False, markup=False
        )
    if imported.returncode != 0:
        raise CliError(f"the demo could not import the Events Report: {imported.stderr.strip()}")


def _child_done(url: str, run_id: str, snap: dict[str, str], operated: set[str]) -> bool:
    """Whether the child run ended; its profile step, too, is run in Alma's UI when it waits for it.

    Once: the run says it waits until its next check finds the UI's run, and a second click would
    meet Alma's 60347 (the job is already running).
    """
    if run_id not in operated and (snap.get("wait_reason") or "").startswith("waiting for the operator"):
        _run_profile_in_ui(url, run_id, snap["wait_reason"])
        operated.add(run_id)
    return snap["state"] in ("succeeded", "failed")


def _after_run(env: dict[str, str], url: str, run_id: str) -> None:
    report = DEMO_DIR / "report.csv"
    _say(f"handles report {run_id} --output {report}")
    _handles(env, "report", run_id, "--output", str(report))
    _show_report(env, run_id, report)
    _say(f"handles verify --run {run_id}")
    _handles(env, "verify", "--run", run_id)

    _say(f"handles repair {run_id}   (dry run first: what would change)")
    _handles(env, "repair", run_id)
    _say(
        f"handles repair {run_id} --apply   (backs up each bib, PUTs it whole, re-runs migration → profile "
        f"on a set of the repaired records as a child run)"
    )
    applied = _handles(env, "repair", run_id, "--apply", capture=True)
    sys.stdout.write(applied.stdout)
    child = next(
        (line.split()[2] for line in applied.stdout.splitlines() if line.startswith("child run ")), None
    )
    if child:
        operated: set[str] = set()
        _wait(f"child run {child}", lambda: _child_done(url, child, _json(env, "status", child), operated))
        _handles(env, "status", child)

    _support_case(env, run_id)
    _say(
        f"handles repair-conflicts {run_id} --apply   (Handle server requests so the expected handles resolve)"
    )
    _handles(env, "repair-conflicts", run_id, "--apply")
    _wait(
        "the Handle server requests",
        lambda: not [r for r in _json(env, "request", "list") if r["status"] in ("queued", "running")],
    )
    _handles(env, "request", "list")

    _say(f"handles verify --run {run_id}   (again, after the repairs)")
    _handles(env, "verify", "--run", run_id)
    _say(f"handles report {run_id}   (again: repaired records as their child run left them)")
    _handles(env, "report", run_id, "--output", str(report))
    _handles(env, "report", run_id, "--format", "xlsx", "--output", str(report.with_suffix(".xlsx")))
    _handles(env, "report", run_id, "--format", "text")
    _handles(env, "status", run_id)


def _support_case(env: dict[str, str], run_id: str) -> None:
    """``repair-conflicts`` as a library whose handles Ex Libris hosts meets it: a support case."""
    folder = DEMO_DIR / "support-case"
    _say(
        f"HANDLE_SERVER_URL=none handles repair-conflicts {run_id} --output {folder}   "
        f"(no Handle server of your own: the evidence for an Ex Libris case)"
    )
    _handles({**env, "HANDLE_SERVER_URL": "none"}, "repair-conflicts", run_id, "--output", str(folder))
    for text in sorted(folder.glob("*.txt")):
        head = text.read_text(encoding="utf-8").splitlines()[:6]
        err_console.print("\n".join(f"  | {line}" for line in head) + "\n  | …", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
