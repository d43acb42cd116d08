"""The real page in headless Chromium: draw with the mouse, read the answer, clear, retrain."""

import os
import re
from pathlib import Path

import pytest
from waiting import TIMEOUT_S, eventually

from chromium import (ANSWER, CANVAS, CANVAS_HOST, NUMBER_2026, SCREENSHOTS, WAIT_MS, answer, clear, draw, free_port,
                      model_card, mouse_strokes, page_server, retrain_settings, settled, start_app, touch_draw, touch_strokes,
                      wait_for_app)
from digitnet.config import DRAW_AHEAD_ENV, DRAWINGS_ENV
from digitnet.state.store import RETRAINED_ENV

SCREENSHOT = SCREENSHOTS / "screenshot.png"

@pytest.fixture
def drawings_dir(tmp_path) -> Path:
    return tmp_path / "drawings"


@pytest.fixture
def server(mnist_path, tmp_path, drawings_dir):
    """A fresh `streamlit run app.py` for each test, on a free local port, with its own folders for
    retrained models and drawings: no test depends on what another did."""
    with page_server(mnist_path, tmp_path) as url:
        yield url


@pytest.fixture
def fresh_server(mnist_path, tmp_path, drawings_dir):
    """A server that draws the retrain's pen digits in the background once its page first runs, as
    one does for real (into the test run's cache: only the first such server draws them all)."""
    with page_server(mnist_path, tmp_path, **{DRAW_AHEAD_ENV: "1"}) as url:
        yield url


def wait_for_background_drawing(log: Path, finished_before: int) -> None:
    eventually(lambda: log.exists() and log.read_text().count("are drawn and cached") > finished_before,
               "the page's drawing ahead to find the pen digits drawn", every=1)


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    page.get_by_role("button", name="Retrain").wait_for(timeout=WAIT_MS)
    settled(page)  # the sidebar and columns laid out before the canvas is measured
    yield page
    page.close()

# The titles of the canvas toolbar's visible buttons, from inside the component's shadow root.
TOOLBAR_BUTTONS = f"""[...document.querySelectorAll('{CANVAS_HOST}')]
    .flatMap(host => [...host.shadowRoot.querySelectorAll("button")])
    .filter(button => getComputedStyle(button).display !== "none").map(button => button.title)"""


def test_drawn_digits_are_read_and_clear_empties_the_canvas(page):
    for digit in ("1", "0", "7"):
        draw(page, digit)
        assert answer(page) == digit
        page.get_by_text(re.compile(rf"(this is a {digit}\.|most like a {digit})")).wait_for(timeout=WAIT_MS)
        if digit == "7":
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            settled(page)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        clear(page)
        assert page.get_by_text("Draw a digit from 0 to 9").count() == 1
    # The toolbar keeps Undo but offers no "Edit" mode, which would silently stop drawing: on new canvases too.
    page.wait_for_function(f"{TOOLBAR_BUTTONS}.includes('Undo')", timeout=WAIT_MS)
    assert "Edit" not in page.evaluate(TOOLBAR_BUTTONS)


def test_retrain_from_the_sidebar_shows_progress_then_new_curves(browser, pen_digits_drawn, fresh_server):
    log = pen_digits_drawn / "draw-ahead.log"
    finished_before = log.read_text().count("are drawn and cached") if log.exists() else 0
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(fresh_server)  # the page's first run starts the drawing
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    wait_for_background_drawing(log, finished_before)  # the page's first run started it
    page.get_by_role("button", name="Retrain").wait_for(timeout=WAIT_MS)
    draw(page, "7")
    assert answer(page) == "7"
    sidebar = retrain_settings(page, epochs=5, images=3000)
    sidebar.get_by_role("button", name="Retrain").click()
    sidebar.get_by_text(re.compile(r"Epoch \d of 5")).first.wait_for(timeout=WAIT_MS)
    assert sidebar.get_by_role("button", name="Retrain").is_disabled()
    # The drawing on the canvas, read by the network after each finished epoch.
    sidebar.locator(".epoch-answers").get_by_text("epoch 1").wait_for(timeout=WAIT_MS)
    page.get_by_text(re.compile(r"Done: MNIST test accuracy .*, real people it never saw")).wait_for(timeout=WAIT_MS)
    card = model_card(page)
    card.get_by_text("retrained here").wait_for(timeout=WAIT_MS)
    assert card.get_by_text(re.compile(r"Epochs:\s*5")).count() == 1
    page.get_by_role("tab", name="Draw").click()
    clear(page)
    draw(page, "7")
    assert answer(page) == "7"


def test_presenter_mode_hides_the_sidebar_and_shows_the_big_answer(browser, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/?presenter=1")
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    settled(page)
    assert page.get_by_role("button", name="Retrain").count() == 0
    assert not page.get_by_role("tab", name="How it learned").is_visible()  # Draw only
    assert page.locator(CANVAS).bounding_box()["width"] >= 340  # larger than the page's 280
    # Its two switches side by side, level with the title: stacked, they pushed the canvas down.
    switches = [page.get_by_text(name).bounding_box() for name in ("Presenter mode", "Say it aloud")]
    assert abs(switches[0]["y"] - switches[1]["y"]) < 5
    draw(page, "7", scale=340 / 280)
    assert answer(page) == "7"
    font_size = page.locator(ANSWER).evaluate("element => parseFloat(getComputedStyle(element).fontSize)")
    assert font_size >= 150
    page.screenshot(path=str(SCREENSHOT.with_name("presenter.png")))
    # Below the answer, inside the network in its simple form, lighting up the same answer.
    page.get_by_role("heading", name="Inside the network").wait_for(timeout=WAIT_MS)
    assert brightest_output(page) == 7
    # Leaving presenter mode keeps the drawing: the same canvas, shown smaller, with its ink.
    page.get_by_text("Presenter mode").click()
    page.get_by_role("button", name="Retrain").wait_for(timeout=WAIT_MS)
    page.wait_for_function(f"document.querySelector({CANVAS_HOST!r}).getBoundingClientRect().width < 300")
    assert answer(page) == "7"
    assert ink_on_canvas(page) > 0.03
    page.close()


def ink_on_canvas(page) -> float:
    """The share of the canvas' pixels that are ink, from a screenshot of it."""
    import io

    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(page.locator(CANVAS).screenshot())).convert("L"))
    return float((pixels > 128).mean())


def test_a_number_written_as_four_digits_is_read(page):
    page.get_by_text("Several digits").click()
    page.locator(f".st-key-canvas-number {CANVAS}").wait_for(timeout=WAIT_MS)  # the wide canvas, in place of the square
    settled(page, after_change=True)
    box = page.locator(CANVAS).bounding_box()
    assert box["width"] >= 700
    mouse_strokes(page, NUMBER_2026, pause_ms=300)  # a person's pause between two digits: part of the drawing
    page.get_by_text("I read the number 2026.").wait_for(timeout=WAIT_MS)
    assert answer(page) == "2026"


def test_a_corrected_drawing_is_counted_and_saved(page, drawings_dir):
    draw(page, "1")
    assert answer(page) == "1"
    page.locator('[data-testid="stSelectbox"]').filter(has_text="No, it was a").click()
    page.get_by_role("option", name="7", exact=True).click()
    page.get_by_role("button", name="Save", exact=True).click()
    page.get_by_text(re.compile(r"^1 drawing: .*7: 1")).wait_for(timeout=WAIT_MS)
    assert len(list((drawings_dir / "digits" / "7").glob("*.png"))) == 1
    assert len(list((drawings_dir / "originals" / "7").glob("*.png"))) == 1


@pytest.fixture
def saved_drawings(drawings_dir, mnist_path):
    """Twenty MNIST test digits saved as corrected drawings before the page opens."""
    import numpy as np

    from digitnet.data.collected import CollectedDrawings

    corrections = CollectedDrawings(drawings_dir)
    with np.load(mnist_path) as mnist:
        for image, label in zip(mnist["x_test"][:20], mnist["y_test"][:20]):
            corrections.add(image.astype(np.float32) / 255, int(label))
    return corrections


def test_retrain_including_my_drawings(saved_drawings, page):
    page.get_by_text(re.compile(r"^20 drawings: ")).wait_for(timeout=WAIT_MS)
    sidebar = retrain_settings(page, epochs=2, images=2000)
    sidebar.get_by_text("Include my drawings").click()
    sidebar.get_by_text("Learn from real people's pen digits").click()  # quicker: MNIST and the drawings
    settled(page, after_change=True)
    sidebar.get_by_role("button", name="Retrain").click()
    page.get_by_text(re.compile(r"Done: MNIST test accuracy")).wait_for(timeout=WAIT_MS)
    # It learned from the drawings, and measured itself on those it never trained on.
    page.get_by_text(re.compile(r"On your \d+ test drawings \(never trained on\): \d+% before, \d+% after")).wait_for(
        timeout=WAIT_MS)
    model_card(page).get_by_text("retrained here").wait_for(timeout=WAIT_MS)


def test_two_app_processes_sharing_a_folder_act_as_one(browser, mnist_path, tmp_path):
    """Two `streamlit run` replicas behind one load balancer: the same retrain, one at a time, one model."""
    shared = {"DIGITNET_MNIST": str(mnist_path), RETRAINED_ENV: str(tmp_path / "retrained"),
              DRAWINGS_ENV: str(tmp_path / "drawings")}
    env = {**os.environ, **shared}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    ports = [free_port(), free_port()]
    servers = [start_app(port, env) for port in ports]
    try:
        pages = []
        for port in ports:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(wait_for_app(port))
            page.get_by_role("button", name="Retrain").wait_for(timeout=WAIT_MS)
            pages.append(page)
        first, second = pages
        sidebar = retrain_settings(first, epochs=3, images=3000)
        sidebar.get_by_text("Learn from real people's pen digits").click()
        settled(first, after_change=True)
        sidebar.get_by_role("button", name="Retrain").click()
        progress = re.compile(r"Epoch \d of 3")
        first.get_by_text(progress).first.wait_for(timeout=WAIT_MS)
        # The other replica sees the same progress and will not start a second retrain.
        second.get_by_text(progress).first.wait_for(timeout=WAIT_MS)
        assert second.locator('[data-testid="stSidebar"]').get_by_role("button", name="Retrain").is_disabled()
        for page in pages:
            page.get_by_text(re.compile(r"Done: MNIST test accuracy")).wait_for(timeout=WAIT_MS)
            card = model_card(page)
            card.get_by_text("retrained here").wait_for(timeout=WAIT_MS)
            assert card.get_by_text(re.compile(r"Epochs:\s*3")).count() == 1
    finally:
        for server in servers:
            server.terminate()
            server.wait(TIMEOUT_S)


SCREENS = {
    "desktop": ({"width": 1400, "height": 1000}, False, ""),
    "phone": ({"width": 390, "height": 844}, True, ""),
    "phone-presenter": ({"width": 390, "height": 844}, True, "?presenter=1"),
    "projector": ({"width": 1280, "height": 720}, False, "?presenter=1"),
    "laptop": ({"width": 1366, "height": 768}, False, "?presenter=1"),
    "old-projector": ({"width": 1024, "height": 768}, False, "?presenter=1"),
    "full-hd": ({"width": 1920, "height": 1080}, False, "?presenter=1"),
}


@pytest.mark.parametrize("screen", SCREENS)
def test_the_answer_is_on_screen_after_drawing_without_scrolling(browser, server, screen):
    viewport, touch, query = SCREENS[screen]
    context = browser.new_context(viewport=viewport, has_touch=touch, is_mobile=touch)
    page = context.new_page()
    try:
        page.goto(f"{server}/{query}")
        page.locator(CANVAS).wait_for(timeout=WAIT_MS)
        settled(page)
        canvas = page.locator(CANVAS).bounding_box()
        assert canvas["x"] >= 0 and canvas["x"] + canvas["width"] <= viewport["width"]
        scale = canvas["width"] / 280
        (touch_draw if touch else draw)(page, "7", scale=scale)
        assert answer(page) == "7"
        for selector in (ANSWER, CANVAS):
            box = page.locator(selector).bounding_box()
            assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"], (selector, box)
        if query and not touch:  # a presenter's screen: Clear and the answer's bars too
            for element in (page.get_by_role("button", name="Clear"), page.locator(".probability-bars")):
                box = element.bounding_box()
                assert box["y"] + box["height"] <= viewport["height"], box
        if not query and not touch:  # a visitor's desk: how it learned, under the canvas, beside the answer
            glance, reply = page.locator("figure.glance").bounding_box(), page.locator(ANSWER).bounding_box()
            assert glance["y"] + glance["height"] / 2 <= viewport["height"] and glance["x"] + glance["width"] <= reply["x"]
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"screen-{screen}.png"))
    finally:
        context.close()


def test_inside_the_network_follows_the_drawing(page):
    draw(page, "7")
    assert answer(page) == "7"
    page.get_by_text("Inside the network").click()
    page.get_by_text(re.compile(r"strongest pushes towards 7")).wait_for(timeout=WAIT_MS)
    assert brightest_output(page) == 7
    page.get_by_text(re.compile(r"What it looks for: ink on orange pixels")).wait_for(timeout=WAIT_MS)
    # Pick another neuron: its own picture and words replace the first one's.
    looks_for = page.locator('[data-testid="stImage"]').filter(has_text="What it looks for").locator("img")
    first_picture = looks_for.get_attribute("src")
    option = open_select_box(page, "Neuron (most active first)").nth(1)
    picked = re.match(r"#(\d+)", option.inner_text()).group(1)
    option.click()
    page.get_by_text(re.compile(rf"neuron #{picked} fires at [\d.]+: number 2 by activity")).wait_for(timeout=WAIT_MS)
    assert looks_for.get_attribute("src") != first_picture
    clear(page)
    draw(page, "1")
    assert answer(page) == "1"
    page.get_by_text(re.compile(r"strongest pushes towards 1")).wait_for(timeout=WAIT_MS)


def test_a_number_fits_a_phone_and_is_read(browser, server):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(server)
        page.locator(CANVAS).wait_for(timeout=WAIT_MS)
        page.get_by_text("Several digits").click()
        page.locator(f".st-key-canvas-number {CANVAS}").wait_for(timeout=WAIT_MS)  # the wide canvas, in place of the square
        settled(page, after_change=True)
        box = page.locator(CANVAS).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box  # the whole strip is on screen
        touch_strokes(page, NUMBER_2026, scale=box["width"] / 720)
        page.get_by_text("I read the number 2026.").wait_for(timeout=WAIT_MS)
        assert answer(page) == "2026"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "screen-phone-number.png"))
    finally:
        context.close()


def test_a_mistake_shown_as_the_input_is_brought_into_view(page):
    page.get_by_role("tab", name="How good is it").click()
    show = page.get_by_role("button", name="Show it as the input")
    show.scroll_into_view_if_needed(timeout=WAIT_MS)
    assert not page.locator(CANVAS).is_visible()  # in the Draw tab, not open
    show.click()
    page.get_by_text(re.compile(r"Test digit #\d+, labelled \d")).wait_for(timeout=WAIT_MS)
    # Smooth scrolling takes a moment: wait for the answer to be wholly on screen.
    page.wait_for_function(f"""() => {{
        const answer = document.querySelector('{ANSWER}');
        const box = answer && answer.getBoundingClientRect();
        return box && box.top >= 0 && box.bottom <= window.innerHeight; }}""", timeout=WAIT_MS)


def open_select_box(page, label: str):
    """Open the select box labelled `label`; return its options. A rerun that lands just after the
    click closes the list again, so click until it stays open."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    field = page.locator('[data-testid="stSelectbox"]').filter(has_text=label).locator("input")
    options = page.get_by_role("option")
    for _ in range(10):
        field.click()
        try:
            options.first.wait_for(timeout=2_000)  # a look: a rerun may have closed the list, then click again
            return options
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"the select box {label!r} does not open")


def brightest_output(page) -> int:
    """The output neuron the shown network picture lights up: the one drawn in the answer's colour,
    every other one grey. Read from a screenshot of the picture, where digitnet.reading.inside draws them."""
    import io

    import numpy as np
    from PIL import Image

    from digitnet.reading import inside

    picture = page.locator(".st-key-network-picture img")
    pixels = np.asarray(Image.open(io.BytesIO(picture.screenshot())).convert("RGB")).astype(int)
    scale = pixels.shape[1] / inside.WIDTH
    centres = [pixels[round(y * scale), round(x * scale)] for x, y in inside.output_centres()]
    coloured = [digit for digit, (red, green, blue) in enumerate(centres) if red - blue > 100]
    assert len(coloured) == 1, centres  # one answer, nine grey outputs
    return coloured[0]
