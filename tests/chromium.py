"""Starting a page server and driving it with Chromium: shared by the browser tests and `make bench`.

The tests import it as `chromium` (pytest puts tests/ on the path), the benchmark as `tests.chromium`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from digitnet.replicas import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's: `apt-get install -y chromium`; never `playwright install`
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CANVAS = '[data-testid="stBidiComponentIsolated"] canvas.upper-canvas'
ANSWER = '[data-testid="digit-answer"]'
# Set while Streamlit runs the page's script for this browser tab, and "notRunning" once it is done.
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
BUSY = '[data-testid="stApp"]:is([data-test-script-state="running"], [data-test-script-state="rerunRequested"])'

__all__ = ["ANSWER", "CANVAS", "CHROMIUM", "CHROMIUM_FLAGS", "IDLE", "ROOM_WIFI", "FirstVisit", "free_port",
           "phone_first_visit", "require_chromium", "start_app", "wait_for_app"]


def require_chromium() -> None:
    """Fail in CI, skip elsewhere, when Chromium is not installed."""
    if not Path(CHROMIUM).exists():
        message = "Chromium not found at /usr/bin/chromium: install it with `sudo apt-get install -y chromium`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def start_app(port: int, env: dict[str, str], script: Path = ROOT / "app.py",
              options: tuple[str, ...] = (), address: str = "127.0.0.1") -> subprocess.Popen:
    """`streamlit run app.py` (or another page) on address:port, headless, in the background; `options`
    are more of Streamlit's command-line settings. `address` "0.0.0.0" listens on every interface, as
    `make run` does."""
    return subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(script), "--server.headless", "true",
         "--browser.gatherUsageStats", "false", "--server.address", address, "--server.port", str(port),
         *options],
        cwd=ROOT, env={"MALLOC_ARENA_MAX": "2", **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # as `make run` and `make serve` start it


def wait_for_app(port: int) -> str:
    """Wait until the app on `port` answers its health check; return its URL."""
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return url
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("streamlit did not start within 60 s")


def settled(page, after_change: bool = False, timeout_ms: float = 60_000) -> None:
    """Wait until the page's script has finished running for this tab, so that what it draws is on
    screen. `after_change`: a widget was just changed, so first wait (up to 2 s) for the run it asks
    for to begin, which may take the server a moment."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if after_change:
        try:
            page.locator(BUSY).wait_for(state="attached", timeout=2_000)
        except PlaywrightTimeout:
            pass  # the run began and ended before we looked
    page.locator(IDLE).wait_for(state="attached", timeout=timeout_ms)


# A crowded Wi-Fi, as a phone in a room gets it: 4 Mbit/s down, 40 ms each way (the link).
ROOM_WIFI = {"offline": False, "latency": 40, "downloadThroughput": 4_000_000 / 8, "uploadThroughput": 2_000_000 / 8}


@dataclass(frozen=True)
class FirstVisit:
    """What a new phone moved before its canvas showed, and how long that took."""

    seconds: float
    bytes_on_wire: int
    by_url: dict[str, int]  # bytes on the wire per URL


def phone_first_visit(browser, url: str, network: dict = ROOM_WIFI, timeout_ms: float = 60_000) -> FirstVisit:
    """Open `url` in a new phone (390x844, touch, empty cache) on `network`; wait for the canvas."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", network)
        urls: dict[str, str] = {}
        sizes: dict[str, int] = {}
        cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])))
        started = time.monotonic()
        page.goto(url)
        page.locator(CANVAS).wait_for(timeout=timeout_ms)
        seconds = time.monotonic() - started
        by_url: dict[str, int] = {}
        for request, size in sizes.items():
            key = urls.get(request, request)
            by_url[key] = by_url.get(key, 0) + size
        return FirstVisit(seconds, sum(by_url.values()), by_url)
    finally:
        context.close()


def phone_sends(browser, url: str, code: str, cookie: str | None = None) -> None:
    """A phone opens room `code`, draws a 7 with a finger and sends it; returns once it is on the screen."""
    from test_browser import touch_draw

    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    if cookie:
        context.add_cookies([{"name": "digitnet_replica", "value": cookie, "url": url}])
    phone = context.new_page()
    phone.goto(f"{url}/?room={code}")
    phone.locator(CANVAS).wait_for(timeout=60_000)
    settled(phone)
    touch_draw(phone, "7", scale=phone.locator(CANVAS).bounding_box()["width"] / 280)
    phone.locator(ANSWER).wait_for(timeout=30_000)
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("is on the screen").wait_for(timeout=30_000)
    context.close()
