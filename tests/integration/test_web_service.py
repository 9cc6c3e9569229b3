"""docker-compose.yml's ``web`` service, run with its very command (no Docker) on PostgreSQL."""

from __future__ import annotations

import os
import re

import httpx
import pytest

from tests.support import ROOT, free_port, handles_service, wait_for

pytestmark = pytest.mark.integration


def test_compose_declares_the_web_service_with_required_auth() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    service = text[text.index("\n  web:\n") :]
    service = service[: service.index("\n\n")]
    assert '["handles", "web", "--host", "0.0.0.0", "--port", "8790"]' in service
    assert "HANDLES_WEB_AUTH: ${HANDLES_WEB_AUTH:?" in service
    assert re.search(r'-\s*"127\.0\.0\.1:\$\{WEB_PORT:-8790\}:8790"', service)


def test_the_compose_command_serves_the_runs_behind_basic_auth(pg_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import text

    from pipeline.runs import create_run
    from store.db import make_engine, session_scope, upgrade_schema

    engine = make_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade_schema(engine)
    with session_scope(engine) as session:
        run_id = create_run(session=session, set_id="7600000000004641", set_name="Handle demo sample").id
    engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALMA_", "HANDLE", "DATABASE_"))}
    env.update(DATABASE_URL=pg_url, HANDLES_WEB_AUTH="librarian:pw-42", PYTHONPATH=str(ROOT))
    log = tmp_path / "web.log"
    url = f"http://127.0.0.1:{port}/"
    with handles_service(
        env, "web", "--host", "0.0.0.0", "--port", str(port), log_path=log, cwd=tmp_path
    ) as proc:

        def status() -> int | None:
            assert proc.poll() is None, log.read_text()
            try:
                return httpx.get(url, timeout=1).status_code
            except httpx.TransportError:
                return None

        assert wait_for(status, timeout=30, what="handles web") == 401
        page = httpx.get(url, auth=("librarian", "pw-42"), timeout=5)
        assert page.status_code == 200 and f"run {run_id}" in page.text and "Handle demo sample" in page.text
        assert httpx.get(url, auth=("librarian", "nope"), timeout=5).status_code == 401
    assert "pw-42" not in log.read_text()
