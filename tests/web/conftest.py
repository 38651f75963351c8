"""A real gunicorn server with the demo set and a slow offline engine, and headless Chromium
driven by Selenium (Debian's `chromium` + `chromium-driver`, installed by `scripts/setup dev`;
no browser is downloaded). Missing parts skip the tests locally and fail them under CI."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT
from tests.server.conftest import LiveServer, free_port, server_env, start_server
from tests.support.requirements import missing, require

AXE = ROOT / ".cache" / "axe-core-4.14.1" / "axe.min.js"  # fetched and checked by scripts/setup dev
SCREENSHOTS = ROOT / "docs" / "screenshots"
TOKEN_DELAY = 0.02  # seconds between the offline engine's tokens: an answer takes a few seconds
DESKTOP = (1440, 1000)
MOBILE = (390, 844)


@dataclass
class WebUser:
    username: str
    token: str


class Site:
    """The server under test, with helpers that use its API the way the page does."""

    def __init__(self, server: LiveServer, demo: str) -> None:
        self.server = server
        self.url = server.url
        self.demo = demo

    def user(self, username: str, *, blocked: bool = False) -> WebUser:
        made = self.server.flask("users", "create", username)
        assert made.returncode == 0, made.stderr
        token = made.stdout.strip().splitlines()[-1].strip()
        if blocked:
            assert self.server.flask("users", "block", username).returncode == 0
        return WebUser(username, token)

    def access(self, user: WebUser) -> dict:
        answer = requests.post(
            self.url + "/auth/exchange", json={"static_token": user.token}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": "Bearer " + answer.json()["access_token"]}

    def ask_and_wait(self, headers: dict, chat_id: str, content: str) -> list[tuple[str, dict]]:
        """Post a question and read its whole answer through the API (not the page)."""
        posted = requests.post(
            f"{self.url}/chats/{chat_id}/messages",
            json={"content": content, "attached_document_ids": [self.demo]},
            headers=headers,
            timeout=10,
        )
        assert posted.status_code == 201, posted.text
        events = []
        with requests.get(
            f"{self.url}/chats/{chat_id}/stream", headers=headers, stream=True, timeout=60
        ) as stream:
            name = None
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name:
                    events.append((name, json.loads(line[6:])))
                    if name in ("completed", "error"):
                        break
        return events


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    data = tmp_path_factory.mktemp("web")
    env = server_env(data / "data", free_port(), LOCAL_TOKEN_DELAY=TOKEN_DELAY)
    from tests.server.conftest import flask

    imported = flask(env, "demo", "--quiet")
    assert imported.returncode == 0, imported.stderr
    server = start_server(env, data / "gunicorn.log")
    try:
        yield Site(server, imported.stdout.strip().splitlines()[-1])
    finally:
        server.stop()


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        missing("Chromium or chromium-driver is not installed (scripts/setup dev installs both)")
    return browser, driver  # type: ignore[return-value]


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium for a module's tests; only loopback is reachable from it."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        missing("selenium is not installed (requirements-dev.txt)")
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-default-apps",
        "--disable-extensions",
        "--disable-domain-reliability",
        "--proxy-server=http://127.0.0.1:9",  # anything but loopback fails: no traffic leaves
        "--lang=ru-RU",
        f"--window-size={DESKTOP[0]},{DESKTOP[1]}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def axe() -> Callable[[object], list[dict]]:
    """Run axe-core in the page; returns its serious and critical violations."""
    require(AXE.is_file(), f"axe-core is not fetched ({AXE}; scripts/setup dev fetches it)")
    source = AXE.read_text(encoding="utf-8")

    def run(driver) -> list[dict]:
        driver.execute_script(source)
        result = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "axe.run(document, {resultTypes: ['violations']})"
            ".then(r => done(r.violations), e => done([{id: 'axe-error', impact: 'critical',"
            " description: String(e), nodes: []}]));"
        )
        return [
            {
                "id": v["id"],
                "impact": v["impact"],
                "help": v.get("help"),
                "targets": [n.get("target") for n in v.get("nodes", [])][:5],
            }
            for v in result
            if v.get("impact") in ("serious", "critical")
        ]

    return run


def screenshot(driver, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / name
    driver.save_screenshot(str(path))
    return path
