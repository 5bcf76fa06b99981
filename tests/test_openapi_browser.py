"""The interactive API documentation page, in a real headless Chromium.

The app is served by werkzeug on 127.0.0.1 (a free port, in a thread), and
Chromium is driven with Selenium through the system's chromedriver (never a
downloaded one). Locally the test skips when Chromium, chromedriver or
Selenium is missing; under ``CI=true`` it fails instead.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _support import unavailable
from werkzeug.serving import make_server

from findig.json import App
from findig.tools.openapi import OpenAPI
from findig.tools.validator import Validator

CHROMIUM = os.environ.get("FINDIG_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("FINDIG_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOT_COPY = Path("/tmp/findig-docs-screenshot.png")
#: The longest wait for anything on the page.
WAIT = 20


def make_app() -> App:
    app = App()
    validator = Validator(app)
    tasks_data = {
        1: {"id": 1, "title": "Write the docs", "status": "open"},
        2: {"id": 2, "title": "Ship it", "status": "done"},
    }

    @app.route("/tasks/<int(min=1):id>")
    @app.resource
    def task(id):
        """One task."""
        return tasks_data[id]

    @task.model("write")
    def write_task(data, id):
        tasks_data[id] = {**data, "id": id}

    @app.route("/tasks")
    @task.collection
    def tasks():
        """Every task."""
        return list(tasks_data.values())

    @tasks.model("make")
    def make_task(data):
        new_id = max(tasks_data) + 1
        tasks_data[new_id] = {**data, "id": new_id}
        return {"id": new_id}

    validator.restrict(task, "*title", "status")
    validator.enforce(task, status="any(open, done)")
    OpenAPI(app, title="Tasks", version="1.0", validator=validator)
    return app


@pytest.fixture
def server() -> Iterator[str]:
    """The test app served on a free port of 127.0.0.1; yields its URL."""
    httpd = make_server("127.0.0.1", 0, make_app(), threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A headless Chromium driven by the system's chromedriver."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        unavailable(
            f"Chromium ({CHROMIUM}) or chromedriver ({CHROMEDRIVER}) is missing: "
            "apt-get install chromium chromium-driver"
        )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("Selenium is not installed: pip install selenium")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,1400",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: Selenium Manager never runs (nor downloads).
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT)
    try:
        yield driver
    finally:
        driver.quit()


def test_docs_page_lists_operations_and_tries_a_get(
    server: str, browser: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    started = time.monotonic()
    wait = WebDriverWait(browser, WAIT)
    browser.get(f"{server}/docs")

    # The operations are listed, from the app's own document.
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    listed = {
        (
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text,
            block.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute(
                "data-path"
            ),
        )
        for block in browser.find_elements(By.CSS_SELECTOR, ".opblock")
    }
    assert ("GET", "/tasks") in listed
    assert ("GET", "/tasks/{id}") in listed
    assert ("POST", "/tasks") in listed
    assert ("PUT", "/tasks/{id}") in listed
    assert browser.find_element(By.CSS_SELECTOR, ".info .title").text.startswith(
        "Tasks"
    )

    # Expand GET /tasks, try it out, execute: the app's real answer shows.
    block = browser.find_element(By.ID, "operations-tasks-list_tasks")
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))[
        0
    ].click()
    wait.until(lambda d: block.find_elements(By.CSS_SELECTOR, "button.execute"))[
        0
    ].click()
    body = wait.until(
        lambda d: [
            element
            for element in block.find_elements(
                By.CSS_SELECTOR, ".live-responses-table .response-col_description pre"
            )
            if "Write the docs" in element.text
        ]
    )[0]
    assert "Ship it" in body.text
    status = block.find_element(
        By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
    )
    assert status.text.strip() == "200"

    # The whole page: the operations listed, and the answer under GET /tasks.
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(int(height) + 120, 4000))
    screenshot = tmp_path / "findig-docs.png"
    assert browser.save_screenshot(str(screenshot))
    assert screenshot.read_bytes().startswith(b"\x89PNG")
    shutil.copyfile(screenshot, SCREENSHOT_COPY)
    print(f"\nScreenshot of the docs page: {screenshot} (copy: {SCREENSHOT_COPY})")

    # Nothing was blocked or failed on the way (the page's policy allows
    # only its own origin: nothing comes from elsewhere).
    errors = [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE"
    ]
    assert errors == []
    assert time.monotonic() - started < 60
