"""``handles web`` in a real browser: headless Chromium (Debian's package) driven by Selenium.

The database is filled by the pipeline's own code against the sandbox over real HTTP
(:func:`tests.web_data.drive_runs`: the demo's sample set run to the end, seed 000's set waiting for
the operator); ``handles web`` is a real subprocess on a free port. The tests assert what an
operator sees on each page, and the screenshot test keeps a PNG of each page (in
``$WEB_SCREENSHOTS`` if set, else the test's temporary folder) and fails when a page breaks.
Under ``CI=true`` a missing Chromium fails; elsewhere the module is skipped.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port, stop_process, wait_for
from tests.web_data import Built, drive_runs

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
USER, PASSWORD = "librarian", "shelf-mark-42"
ZONE = "America/Chicago"
# what the demo's sample set is known to hold (sandbox/ seeds): a conflict record, in full
CONFLICT_MMS = "991011507293904641"


def _need_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium (pip install -e .[dev])")
    if missing:
        message = (
            f"no headless browser: missing {', '.join(missing)} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI"):
            pytest.fail(message + ", and CI requires it")
        pytest.skip(message)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Built, str]]:
    """The sandbox's runs in a fresh database, and ``handles web`` serving it over HTTP."""
    _need_browser()
    from alma import AlmaClient
    from config.settings import load_settings
    from sandbox.testing import running_sandbox
    from store.db import make_engine, upgrade_schema

    folder = tmp_path_factory.mktemp("web")
    db_url = f"sqlite:///{folder / 'handles.db'}"
    with running_sandbox(job_seconds=0.2, events_api=True, profile_api=True) as sandbox:
        settings = load_settings(
            ALMA_API_BASE_URL=sandbox,
            ALMA_API_KEY="sandbox-key",
            HANDLE_RESOLVER_URL=sandbox,
            HANDLE_TARGET_TEMPLATE=sandbox + "/discovery/fulldisplay/alma{mms_id}/01GCL_INST:GCL",
            HANDLE_SERVER_URL=sandbox + "/handle-server",
            POLL_MIN_SECONDS=0.2,
            POLL_MAX_SECONDS=0.5,
            DATABASE_URL=db_url,
        )
        engine = make_engine(db_url)
        upgrade_schema(engine)
        alma = AlmaClient.from_settings(settings)
        try:
            built = drive_runs(engine, settings, alma)
        finally:
            alma.close()
            engine.dispose()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALMA_", "HANDLE", "DATABASE_"))}
    env.update(
        DATABASE_URL=db_url,
        HANDLES_WEB_AUTH=f"{USER}:{PASSWORD}",
        HANDLES_TIMEZONE=ZONE,
        PYTHONPATH=str(ROOT),
    )
    log_path = folder / "web.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "web", "--port", str(port)],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def answering() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(url + "/", timeout=1).status_code == 401
            except httpx.TransportError:
                return False

        wait_for(answering, timeout=30, what="handles web to answer")
        yield url, built, db_url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def browser(served, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1360,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    driver.execute_cdp_cmd("Network.enable", {})
    signed_in(driver, True)
    try:
        yield driver
    finally:
        driver.quit()


def signed_in(driver, on: bool) -> None:  # type: ignore[no-untyped-def]
    """Send (or stop sending) the Basic credentials with every request, as a signed-in browser does."""
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {token}"} if on else {}
    driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})


def text_of(driver, css: str) -> str:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.CSS_SELECTOR, css).text)


def statuses(driver, url: str) -> list[int]:  # type: ignore[no-untyped-def]
    """The HTTP statuses the browser received for ``url`` since the last call (performance log)."""
    import json

    found = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.responseReceived":
            response = message["params"]["response"]
            if response["url"] == url:
                found.append(int(response["status"]))
    return found


def test_without_credentials_the_browser_gets_401(served, browser) -> None:  # type: ignore[no-untyped-def]
    url, _, _ = served
    statuses(browser, url + "/")  # forget what came before
    signed_in(browser, False)
    try:
        browser.get(url + "/")
        assert statuses(browser, url + "/") == [401]
        assert "7600000000004641" not in browser.page_source
    finally:
        signed_in(browser, True)
    browser.get(url + "/")
    assert statuses(browser, url + "/") == [200]
    assert "7600000000004641" in browser.page_source


def test_runs_page_shows_each_run_state_set_and_why_it_waits(served, browser) -> None:  # type: ignore[no-untyped-def]
    url, built, _ = served
    browser.get(url + "/")
    finished = text_of(browser, f'tr[data-run="{built.finished_run}"]')
    waiting = text_of(browser, f'tr[data-run="{built.waiting_run}"]')
    assert "succeeded" in finished and "7600000000004641" in finished and "3 of 3 Alma jobs done" in finished
    assert "waiting for the operator" in waiting and "7593466560004641" in waiting
    assert (
        "2 of 3 Alma jobs done" in waiting
        and "run the Handle profile in Alma" in waiting
        and f"handles confirm {built.waiting_run}" in waiting
    )
    assert f"Times in {ZONE}" in text_of(browser, "header")


def test_run_page_shows_steps_instance_ids_counters_and_outcomes(served, browser) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine, text

    url, built, db_url = served
    browser.get(f"{url}/runs/{built.finished_run}")
    assert "Run 1" in text_of(browser, "h1") and "succeeded" in text_of(browser, "h1")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        instance = conn.execute(
            text("select instance_id from step where run_id = :r and kind = 'migration'"),
            {"r": built.finished_run},
        ).scalar_one()
        counts = dict(
            conn.execute(
                text("select outcome, count(*) from record where run_id = :r group by outcome"),
                {"r": built.finished_run},
            ).all()
        )
    engine.dispose()
    migration = text_of(browser, 'tr[data-step="migration"]')
    assert instance and instance in migration and "M48402" in migration
    assert "Records processed" in migration and "40" in migration
    for outcome, count in counts.items():
        row = text_of(browser, f'tr[data-outcome="{outcome}"]')
        assert str(count) in row.split(), (outcome, row)
    conflict = text_of(browser, 'tr[data-outcome="conflict"]')
    assert f"handles repair-conflicts {built.finished_run}" in conflict


def test_waiting_run_tells_the_operator_what_to_do(served, browser) -> None:  # type: ignore[no-untyped-def]
    url, built, _ = served
    browser.get(f"{url}/runs/{built.waiting_run}")
    instructions = text_of(browser, "#operator")
    assert "Integration Profiles" in instructions and f"handles confirm {built.waiting_run}" in instructions
    # its records are not classified until it ends: the page says to wait, not to import a report
    assert "settles every record's outcome" in text_of(browser, 'tr[data-outcome="unknown"]')


def test_records_filter_narrows_and_search_finds_a_full_mms_id(served, browser) -> None:  # type: ignore[no-untyped-def]
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, built, _ = served
    browser.get(f"{url}/runs/{built.finished_run}/records")
    everything = len(browser.find_elements(By.CSS_SELECTOR, "#records tbody tr"))
    assert everything == 40 and "40 of 40 records" in text_of(browser, "#matched")
    Select(browser.find_element(By.ID, "outcome")).select_by_value("conflict")
    browser.find_element(By.ID, "apply").click()
    wait_for(lambda: "outcome=conflict" in browser.current_url, timeout=10, what="the filtered page")
    rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
    assert 0 < len(rows) < everything
    assert all("conflict" in row.text for row in rows)
    assert CONFLICT_MMS in [cell.text.split()[0] for cell in browser.find_elements(By.CSS_SELECTOR, "td.mms")]
    browser.get(f"{url}/runs/{built.finished_run}/records")
    box = browser.find_element(By.ID, "q")
    box.send_keys(CONFLICT_MMS)
    box.submit()
    wait_for(lambda: "q=" in browser.current_url, timeout=10, what="the search")
    rows = browser.find_elements(By.CSS_SELECTOR, "#records tbody tr")
    assert len(rows) == 1 and CONFLICT_MMS in rows[0].text and "11084/99" in rows[0].text


def test_verification_and_requests_pages(served, browser) -> None:  # type: ignore[no-untyped-def]
    url, built, _ = served
    browser.get(f"{url}/verification?run={built.finished_run}")
    assert "11084/" in text_of(browser, "#checks") and "No regressions" in text_of(browser, "#regressions")
    browser.get(f"{url}/requests")
    assert "Handle server requests" in text_of(browser, "h1")
    browser.get(f"{url}/runs/999")
    assert "There is no run 999." in text_of(browser, "main") and "Traceback" not in browser.page_source


def screenshot_folder(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("WEB_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_screenshot_of_each_page_shows_a_working_page(served, browser, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from io import BytesIO

    from PIL import Image
    from selenium.webdriver.common.by import By

    url, built, _ = served
    pages = {
        "runs": "/",
        "run": f"/runs/{built.finished_run}",
        "run-waiting": f"/runs/{built.waiting_run}",
        "records": f"/runs/{built.finished_run}/records",
        "verification": "/verification",
        "requests": "/requests",
    }
    folder = screenshot_folder(tmp_path)
    for name, path in pages.items():
        browser.get(url + path)
        height = browser.execute_script("return document.documentElement.scrollHeight")
        browser.set_window_size(1360, min(max(int(height) + 140, 600), 6000))  # the whole page
        png = browser.get_screenshot_as_png()
        browser.set_window_size(1360, 1000)
        (folder / f"{name}.png").write_bytes(png)
        assert not browser.find_elements(By.CSS_SELECTOR, "[data-page-error]"), f"{name}: an error page"
        body = text_of(browser, "body")
        assert "Traceback" not in body and "Internal Server Error" not in body, name
        assert len(body) > 200 and browser.find_elements(By.CSS_SELECTOR, "main h1"), f"{name}: blank page"
        assert (
            browser.execute_script("return getComputedStyle(document.querySelector('header.top')).display")
            == "flex"
        ), f"{name}: the style sheet did not load"
        image = Image.open(BytesIO(png)).convert("L")
        histogram = image.histogram()
        commonest = max(histogram) / sum(histogram)
        assert commonest < 0.97, f"{name}: the screenshot is nearly one colour ({commonest:.1%})"
        assert len([h for h in histogram if h]) > 20, f"{name}: the screenshot has almost no shades"
