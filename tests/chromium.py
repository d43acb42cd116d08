"""Starting a page server and driving it with Chromium: shared by the browser tests and `make bench`.

The tests import it as `chromium` (pytest puts tests/ on the path), the benchmark as `tests.chromium`.
"""

from __future__ import annotations

import contextlib
import math
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from digitnet.replicas import free_port
from tests.waiting import TIMEOUT_S, WAIT_MS, eventually

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"  # Debian's: `apt-get install -y chromium`; never `playwright install`
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPLICA_HEADER = "X-Digitnet-Replica"  # which replica behind make serve's nginx answered
CANVAS_HOST = '[data-testid="stBidiComponentIsolated"]'  # the canvas component, a shadow root
CANVAS = f"{CANVAS_HOST} canvas.upper-canvas"
ANSWER = '[data-testid="digit-answer"]'
PAD = "canvas.digit-pad"  # a room's phone draws on ui/pad.js' canvas
LIVE_ANSWER = '[data-testid="live-answer"][data-live-digit]:not([data-live-digit=""])'  # ui/live.js' reading
# Set while Streamlit runs the page's script for this browser tab, and "notRunning" once it is done.
IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
BUSY = '[data-testid="stApp"]:is([data-test-script-state="running"], [data-test-script-state="rerunRequested"])'

__all__ = ["ANSWER", "CANVAS", "LIVE_ANSWER", "PAD", "CANVAS_HOST", "CHROMIUM", "CHROMIUM_FLAGS", "DIGIT_STROKES", "IDLE", "NUMBER_2026",
           "REPLICA_HEADER", "ROOM_WIFI", "SCREENSHOTS", "FirstVisit", "answer", "clear", "cookie_on_replica", "draw", "draw_on_phone",
           "free_port", "model_card", "mouse_strokes", "open_on_replica", "page_server", "phone_draws", "phone_first_visit", "phone_sends", "projector_room", "retrain_settings", "start_app",
           "touch_draw", "touch_strokes", "type_number", "until_it_draws", "WAIT_MS", "wait_for_app"]


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


def wait_for_app(port: int, process: subprocess.Popen | None = None) -> str:
    """Wait until the app on `port` answers its health check; return its URL. When `process` (the server)
    stops first, fail at once rather than at the timeout."""
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the page server stopped (exit code {process.returncode}) before it answered")
        try:
            urllib.request.urlopen(f"{url}/_stcore/health", timeout=1)
            return True
        except OSError:
            return False

    eventually(answers, f"the page on port {port} to answer its health check")
    return url


def settled(page, after_change: bool = False, timeout_ms: float = WAIT_MS) -> None:
    """Wait until the page's script has finished running for this tab, so that what it draws is on
    screen. `after_change`: a widget was just changed, so first wait (up to 2 s) for the run it asks
    for to begin, which may take the server a moment."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if after_change:
        try:
            page.locator(BUSY).wait_for(state="attached", timeout=2_000)  # a look, not a wait: see above
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


def phone_first_visit(browser, url: str, network: dict = ROOM_WIFI, timeout_ms: float = WAIT_MS) -> FirstVisit:
    """Open `url` (a room's phone form) in a new phone (390x844, touch, empty cache) on `network`; wait
    until it draws and reads its drawing itself: its pad ready, the live answer's model loaded."""
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
        page.wait_for_function("document.querySelector('[data-testid=stBidiComponentIsolated]')?.shadowRoot"
                               "?.querySelector('canvas.digit-pad[data-ready]') && window.digitnetLive?.weights",
                               timeout=timeout_ms)
        seconds = time.monotonic() - started
        by_url: dict[str, int] = {}
        for request, size in sizes.items():
            key = urls.get(request, request)
            by_url[key] = by_url.get(key, 0) + size
        return FirstVisit(seconds, sum(by_url.values()), by_url)
    finally:
        context.close()


# The README's pictures are refreshed only on request (`make screenshots`): tests leave the repo as it was.
SCREENSHOTS = Path(os.environ.get("DIGITNET_SCREENSHOTS") or Path(tempfile.gettempdir()) / "digitnet-screenshots")

# "2026" on the 720 x 240 strip of the several-digits mode, 180 px per digit.
NUMBER_2026 = [
    [(40, 80), (80, 50), (125, 70), (120, 110), (45, 190), (135, 190)],
    [(270 + 45 * math.sin(t / 20 * 2 * math.pi), 120 - 75 * math.cos(t / 20 * 2 * math.pi)) for t in range(21)],
    [(400, 80), (440, 50), (485, 70), (480, 110), (405, 190), (495, 190)],
    [(660, 45), (610, 100), (595, 160), (625, 195), (660, 180), (665, 140), (630, 125), (600, 150)],
]


# Strokes in canvas pixels (the canvas is 280 x 280).
DIGIT_STROKES = {
    "1": [[(145, 45), (140, 140), (138, 235)]],
    "0": [[(140 + 55 * math.sin(t / 20 * 2 * math.pi), 140 - 90 * math.cos(t / 20 * 2 * math.pi))
           for t in range(21)]],
    "7": [[(75, 60), (205, 60), (160, 140), (120, 235)]],
}


def until_it_draws(page, selector: str = CANVAS) -> dict:
    """Wait until the canvas `selector` takes strokes, and return where it is on the page. The component
    shows its canvas first and turns drawing on once it has loaded its (empty) starting drawing: a
    stroke before that is lost, and on a busy machine that moment is long. A canvas that draws shows
    Fabric's crosshair to a pointer over it, so hover its corner until it does (a phone's pad says it is
    ready itself). While Streamlit redraws the page (a retrain's new model arriving, say) the old canvas
    can stay beside the new one for a moment: wait until there is one."""
    canvas = page.locator(selector)

    def crosshair() -> dict | None:
        if canvas.count() != 1:
            return None
        box = canvas.bounding_box()
        if box is None:
            return None
        page.mouse.move(box["x"] + 2, box["y"] + 2)
        page.mouse.move(box["x"] + 3, box["y"] + 3)
        ready = "element => element.style.cursor === 'crosshair' || element.dataset.ready === '1'"
        return box if canvas.evaluate(ready) else None

    return eventually(crosshair, "the canvas to take strokes (Fabric's crosshair over it)")


def mouse_strokes(page, strokes: list, scale: float = 1.0, steps: int = 8, pause_ms: float = 0,
                  canvas: str = CANVAS) -> None:
    """Draw `strokes` (lists of canvas pixels) on `canvas` with the mouse, `scale` times larger, pausing
    `pause_ms` after each."""
    box = until_it_draws(page, canvas)
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(box["x"] + x * scale, box["y"] + y * scale, steps=steps)
        page.mouse.up()
        if pause_ms:
            page.wait_for_timeout(pause_ms)


def draw(page, digit: str, scale: float = 1.0, canvas: str = CANVAS) -> None:
    """Draw `digit` with the mouse."""
    mouse_strokes(page, DIGIT_STROKES[digit], scale, canvas=canvas)


def touch_strokes(page, strokes: list, scale: float = 1.0, canvas: str = CANVAS) -> None:
    """Draw on `canvas` with a finger: the DevTools protocol's touch events, as a phone's browser sends them."""
    box = until_it_draws(page, canvas)
    session = page.context.new_cdp_session(page)
    for stroke in strokes:
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in stroke]
        # Finer steps between the stroke's corners, as a moving finger reports them.
        path = [points[0]] + [(a[0] + (b[0] - a[0]) * t / 8, a[1] + (b[1] - a[1]) * t / 8)
                              for a, b in zip(points, points[1:]) for t in range(1, 9)]
        session.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": path[0][0], "y": path[0][1]}]})
        for x, y in path[1:]:
            session.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
        session.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


def touch_draw(page, digit: str, scale: float = 1.0, canvas: str = CANVAS) -> None:
    """Draw `digit` with a finger."""
    touch_strokes(page, DIGIT_STROKES[digit], scale, canvas)


def answer(page) -> str:
    """The digit the page answered, once it shows one."""
    page.locator(ANSWER).wait_for(timeout=WAIT_MS)
    return page.locator(ANSWER).inner_text().strip()


def clear(page) -> None:
    """Click Clear, and wait until the answer and the old canvas are gone."""
    from playwright.sync_api import expect

    page.get_by_role("button", name="Clear").click()
    page.locator(ANSWER).wait_for(state="detached", timeout=WAIT_MS)
    expect(page.locator(CANVAS)).to_have_count(1, timeout=WAIT_MS)  # the old canvas has gone


def model_card(page):
    """Open the tab "How it learned"; return its model card."""
    page.get_by_role("tab", name="How it learned").click()
    return page.locator(".st-key-model-card")


def retrain_settings(page, epochs: int, images: int):
    """Set a short retrain in the sidebar; return the sidebar."""
    sidebar = page.locator('[data-testid="stSidebar"]')
    type_number(sidebar.get_by_label("Epochs"), epochs)
    sidebar.get_by_text("Advanced").click()
    type_number(sidebar.get_by_label("Training images (0 = all 60,000)"), images)
    settled(page, after_change=True)
    return sidebar


def type_number(field, value: int) -> None:
    field.fill(str(value))
    field.press("Enter")


@contextlib.contextmanager
def page_server(mnist_path: Path, folder: Path, **settings: str):
    """A fresh `streamlit run app.py` with its own retrained-model and drawings folders in `folder` (and
    any more `settings`), no admin password; its URL, until the block ends and it is stopped."""
    from digitnet.config import DRAWINGS_ENV
    from digitnet.state.store import RETRAINED_ENV

    env = {**os.environ, "DIGITNET_MNIST": str(mnist_path), RETRAINED_ENV: str(folder / "retrained"),
           DRAWINGS_ENV: str(folder / "drawings"), **settings}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    port = free_port()
    process = start_app(port, env)
    try:
        yield wait_for_app(port, process)
    finally:
        process.terminate()
        process.wait(TIMEOUT_S)


def phone_draws(browser, url: str, code: str, digit: str = "7", cookie: str | None = None):
    """A phone (390x844, touch) opens room `code` and draws `digit` with a finger; the page, once it
    shows its answer."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    if cookie:
        context.add_cookies([{"name": "digitnet_replica", "value": cookie, "url": url}])
    phone = context.new_page()
    phone.goto(f"{url}/?room={code}")
    draw_on_phone(phone, digit)
    return phone


def draw_on_phone(phone, digit: str) -> None:
    """Draw `digit` with a finger on a phone's pad, and wait for the phone's own reading of it."""
    phone.locator(PAD).wait_for(timeout=WAIT_MS)
    settled(phone)
    touch_draw(phone, digit, scale=phone.locator(PAD).bounding_box()["width"] / 280, canvas=PAD)
    phone.locator(LIVE_ANSWER).wait_for(timeout=WAIT_MS)


def phone_sends(browser, url: str, code: str, cookie: str | None = None) -> None:
    """A phone opens room `code`, draws a 7 with a finger and sends it; returns once it is on the screen."""
    phone = phone_draws(browser, url, code, cookie=cookie)
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("is on the screen").wait_for(timeout=WAIT_MS)
    phone.context.close()


def cookie_on_replica(url: str, taken: set[str]) -> tuple[str, str]:
    """A sticky-session cookie value that nginx routes to a replica not in `taken`, and that replica."""
    for attempt in range(200):
        value = f"test-{attempt}"
        request = urllib.request.Request(f"{url}/_stcore/health", headers={"Cookie": f"digitnet_replica={value}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            replica = response.headers[REPLICA_HEADER]
        if replica not in taken:
            return value, replica
    raise AssertionError(f"nginx sent 200 different cookies to {taken} only")


def open_on_replica(browser, url: str, taken: set[str]):
    """A fresh browser context whose sticky cookie leads nginx at `url` to a replica not in `taken`; its
    page and replica, and every replica that answered one of its requests."""
    value, replica = cookie_on_replica(url, taken)
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.add_cookies([{"name": "digitnet_replica", "value": value, "url": url}])
    page = context.new_page()
    answered: set[str] = set()
    page.on("response", lambda response: answered.add(response.headers.get(REPLICA_HEADER.lower(), "")))
    page.goto(url)
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name="Retrain").wait_for(timeout=WAIT_MS)
    settled(page)
    return page, replica, answered


def projector_room(browser, url: str, taken: set[str]):
    """A 1280x720 projector whose sticky cookie leads nginx at `url` to a replica not in `taken`, in
    presenter mode, that started a room; the page, its replica and the room's code."""
    value, replica = cookie_on_replica(url, taken)
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    context.add_cookies([{"name": "digitnet_replica", "value": value, "url": url}])
    projector = context.new_page()
    projector.goto(f"{url}/?presenter=1")
    projector.get_by_role("button", name="Start a room").click(timeout=WAIT_MS)
    return projector, replica, projector.locator(".room-code").inner_text(timeout=WAIT_MS)
