"""make bench, the answer while you draw: the browser engine's reading of one frame on a phone-sized
page with Chromium's CPU slowed 4x, beside the numpy engine's reading of the same drawings here; and,
on the real page, pen lift -> the final live answer beside pen lift -> the server's answer."""

from __future__ import annotations

import base64
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.run import BENCH_DOCS, ROOT, Row, format_table, write_results
from digitnet.config import DRAWINGS_ENV
from digitnet.replicas import free_port
from digitnet.state.store import RETRAINED_ENV
from tests.chromium import (ANSWER, CANVAS, CHROMIUM, CHROMIUM_FLAGS, DIGIT_STROKES, clear, mouse_strokes,
                            settled, start_app, wait_for_app)

RESULTS = ROOT / "bench" / "live-results.json"
DRAWINGS = 200
STROKES = 15
THROTTLE = 4  # Chromium's CPU slowed this many times: a mid-range phone's
FRAME_MS = 1000 / 60

log = logging.getLogger("bench")

# In the page: when the pen lifted, when the live panel last changed after it, when the server's answer
# first showed after it.
RECORDER = """() => {
  window.benchTimes = {lift: 0, live: 0, server: 0};
  window.addEventListener("pointerup", () => { benchTimes.lift = performance.now(); benchTimes.live = 0;
                                               benchTimes.server = 0; }, {capture: true});
  new MutationObserver(() => {
    const t = benchTimes, now = performance.now();
    if (!t.lift) return;
    const panel = document.querySelector('[data-testid="live-answer"]');
    if (panel && panel.dataset.liveCount !== t.count) { t.count = panel.dataset.liveCount; t.live = now; }
    const area = document.querySelector(".st-key-answer");
    if (!t.server && area && !area.classList.contains("live") && area.querySelector('[data-testid="digit-answer"]'))
      t.server = now;
  }).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
}"""


def drawings() -> list[np.ndarray]:
    """Pen digits of many writers drawn at the page's canvas size, as a person draws them."""
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.data.render import render_canvas

    rng = np.random.default_rng(11)
    pens = load_pen_collections()
    return [render_canvas(pen.strokes[i], rng) for pen in pens
            for i in rng.choice(len(pen), DRAWINGS // len(pens), replace=False)]


def numpy_times(canvases: list[np.ndarray]) -> list[float]:
    import digitnet

    classifier = digitnet.load_classifier()
    times = []
    for canvas in canvases:
        started = time.perf_counter()
        classifier.predict_proba(digitnet.to_mnist(canvas))
        times.append((time.perf_counter() - started) * 1000)
    return times


def engine_times(browser, canvases: list[np.ndarray]) -> list[float]:
    """ms of one reading by the browser's engine for each canvas, at 390x844 with the CPU slowed."""
    import io

    from PIL import Image

    import digitnet
    from digitnet.reading import web
    from digitnet.reading.preprocess import upright

    classifier = digitnet.load_classifier()
    calibration = upright(digitnet.load_mnist().x_train[: web.CALIBRATION_IMAGES] / np.float32(255))
    weights = web.browser_weights(classifier, calibration)
    page = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    page.add_script_tag(content=web.engine_code())
    page.evaluate("""([constants, weights]) => {
        window.engine = digitnetEngine.createEngine(constants);
        window.weights = engine.loadWeights(Uint8Array.from(atob(weights), c => c.charCodeAt(0)).buffer);
    }""", [web.engine_constants(), base64.b64encode(weights).decode()])
    page.context.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
    pngs = []
    for canvas in canvases:
        buffer = io.BytesIO()
        Image.fromarray(canvas, "RGBA").save(buffer, "PNG")
        pngs.append(base64.b64encode(buffer.getvalue()).decode())
    times = page.evaluate("""async (pngs) => {
        const times = [];
        for (const data of pngs) {
            const bitmap = await createImageBitmap(await (await fetch("data:image/png;base64," + data)).blob());
            const context = new OffscreenCanvas(bitmap.width, bitmap.height).getContext("2d");
            context.drawImage(bitmap, 0, 0);
            const pixels = context.getImageData(0, 0, bitmap.width, bitmap.height).data;
            const started = performance.now();
            engine.read(weights, pixels, bitmap.width, bitmap.height);
            times.push(performance.now() - started);
        }
        return times;
    }""", pngs)
    page.context.close()
    return times


def lift_times(browser) -> tuple[list[float], list[float]]:
    """ms from pen lift to the final live answer, and to the server's answer, stroke after stroke."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, RETRAINED_ENV: str(Path(folder) / "retrained"), DRAWINGS_ENV: str(Path(folder) / "drawings")}
        port = free_port()
        server = start_app(port, env)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(wait_for_app(port, server))
            page.locator(CANVAS).wait_for()
            settled(page)
            page.evaluate(RECORDER)
            live, answered = [], []
            for i in range(STROKES):
                if page.locator(ANSWER).count():
                    clear(page)
                mouse_strokes(page, DIGIT_STROKES["107"[i % 3]], steps=6)
                page.locator(ANSWER).wait_for()
                t = page.evaluate("() => benchTimes")
                live.append(t["live"] - t["lift"])
                answered.append(t["server"] - t["lift"])
            page.close()
        finally:
            server.terminate()
            server.wait()
    return live, answered


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


def main() -> int:
    from playwright.sync_api import sync_playwright

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    canvases = drawings()
    here = numpy_times(canvases)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            there = engine_times(browser, canvases)
            live, answered = lift_times(browser)
        finally:
            browser.close()
    rows = [
        Row(f"engine: a reading, 390x844, CPU {THROTTLE}x slower, median", statistics.median(there), "ms",
            statistics.median(here), "numpy here, median"),
        Row(f"engine: a reading, 390x844, CPU {THROTTLE}x slower, p95", p95(there), "ms", p95(here), "numpy here, p95",
            target=f"<= {FRAME_MS:.1f} ms (a frame at 60 Hz)", met=p95(there) <= FRAME_MS),
        Row("pen lift -> final live answer, median", statistics.median(live), "ms",
            statistics.median(answered), "pen lift -> server's answer", target="<= 30 ms",
            met=statistics.median(live) <= 30),
        Row("pen lift -> final live answer, p95", p95(live), "ms", p95(answered), "pen lift -> server's answer, p95"),
    ]
    print(format_table(rows))
    write_results(rows, RESULTS, BENCH_DOCS / "live.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
