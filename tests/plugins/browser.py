"""``browser``: headless Chromium (via chromedriver) with the network off, one per session.

Offline is enforced twice: Chrome flags stop its own background traffic, and the CDP Network
domain emulates an offline connection. The performance log then shows any http(s) request a
page still tried, which tests assert is none.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, need

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = REPO / "test-artifacts"
HOW = "apt-get install chromium chromium-driver (and pip install selenium)"


def _find(path: Path, name: str) -> str | None:
    return str(path) if path.exists() else shutil.which(name)


class OfflineBrowser:
    """A Chromium session that records every network request a page makes."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def open(self, url: str) -> None:
        self.driver.get_log("performance")  # drop earlier entries: requests and console
        self.driver.get_log("browser")  # messages of pages an earlier test opened
        self.driver.get(url)

    def requested_urls(self) -> list[str]:
        urls = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def console_errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]

    def first_screen(self, name: str, width: int = 1280, height: int = 900) -> Path:
        """A PNG of what a reader sees on opening the page (the viewport, not the whole page)."""
        ARTIFACTS.mkdir(exist_ok=True)
        self.driver.set_window_size(width, height)
        self.driver.execute_script("window.scrollTo(0, 0)")
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        height = self.driver.execute_script("return document.body.scrollHeight")
        self.driver.set_window_size(1280, min(max(int(height), 800), 16000))
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OfflineBrowser]:
    """Headless Chromium with the network off; skips (fails in CI) when it is not installed."""
    chromium = _find(CHROMIUM, "chromium")
    driver_path = _find(CHROMEDRIVER, "chromedriver")
    need(chromium is not None and driver_path is not None, "headless Chromium", HOW)
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        need(False, "selenium", HOW)
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
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
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(driver_path)), options=options)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        yield OfflineBrowser(driver)
    finally:
        driver.quit()
