"""The answer while you draw, in the real page in Chromium: the browser's engine reads the canvas at
every frame of a stroke, and the server's answer takes over, the same, once the pen lifts."""

import pytest

from chromium import ANSWER, CANVAS, SCREENSHOTS, WAIT_MS, answer, draw, page_server, settled, until_it_draws

LIVE = '[data-testid="live-answer"]'
FRAMES = 90  # a stroke of 1.5 s at 60 frames a second, one pointer move per frame
NEXT_FRAME = "new Promise(resolve => requestAnimationFrame(() => resolve()))"


@pytest.fixture(scope="module")
def server(mnist_path, tmp_path_factory):
    with page_server(mnist_path, tmp_path_factory.mktemp("live")) as url:
        yield url


def open_page(browser, url: str, **context):
    page = browser.new_context(**context).new_page()
    page.goto(url)
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    settled(page)
    return page


def live_count(page) -> int:
    return int(page.locator(LIVE).get_attribute("data-live-count") or 0) if page.locator(LIVE).count() else 0


def slow_seven(page, finger: bool = False) -> tuple[int, str]:
    """Draw a 7 in one stroke, one move per frame, and return the readings shown before the pen lifts
    and the live digit then."""
    box = until_it_draws(page)
    corners = [(75, 60), (205, 60), (120, 235)]
    path = [(a[0] + (b[0] - a[0]) * t / (FRAMES // 2), a[1] + (b[1] - a[1]) * t / (FRAMES // 2))
            for a, b in zip(corners, corners[1:]) for t in range(FRAMES // 2)]
    points = [(box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280) for x, y in path]
    before = live_count(page)
    if finger:
        session = page.context.new_cdp_session(page)
        touch = lambda kind, xy: session.send("Input.dispatchTouchEvent", {  # noqa: E731
            "type": kind, "touchPoints": [{"x": xy[0], "y": xy[1]}] if xy else []})
        touch("touchStart", points[0])
        for point in points[1:]:
            touch("touchMove", point)
            page.evaluate(NEXT_FRAME)
        shown, digit = live_count(page) - before, page.locator(LIVE).get_attribute("data-live-digit")
        touch("touchEnd", None)
    else:
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
            page.evaluate(NEXT_FRAME)
        shown, digit = live_count(page) - before, page.locator(LIVE).get_attribute("data-live-digit")
        page.mouse.up()
    return shown, digit


def test_the_answer_follows_the_pen_and_the_server_takes_over_without_a_jump(browser, server):
    page = open_page(browser, server, viewport={"width": 1400, "height": 1000})
    shown, live_digit = slow_seven(page)
    assert shown >= 15
    assert answer(page) == live_digit == "7"
    final = page.locator(LIVE)
    assert final.get_attribute("data-live-digit") == "7" and float(final.get_attribute("data-live-confidence")) > 0.5
    page.context.close()


def test_a_finger_on_a_phone_sized_page_gets_live_readings(browser, server):
    page = open_page(browser, server, viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    shown, live_digit = slow_seven(page, finger=True)
    assert shown >= 15 and live_digit == "7"
    assert answer(page) == "7"
    page.context.close()


def test_presenter_mode_answers_live_in_big_type(browser, server):
    page = open_page(browser, server + "/?presenter=1", viewport={"width": 1280, "height": 720})
    shown, live_digit = slow_seven(page)
    assert shown >= 15 and live_digit == "7"
    assert answer(page) == "7"
    page.context.close()


def test_a_half_drawn_seven_is_read_live_screenshots(browser, server):
    """Screenshots of a 7 half drawn, pen still down, on a desk, a phone and a projector."""
    for name, url, viewport in (("live-desk", server, {"width": 1400, "height": 1000}),
                                ("live-phone", server, {"width": 390, "height": 844}),
                                ("live-projector", server + "/?presenter=1", {"width": 1280, "height": 720})):
        page = open_page(browser, url, viewport=viewport)
        box = until_it_draws(page)
        at = lambda x, y: (box["x"] + x * box["width"] / 280, box["y"] + y * box["height"] / 280)  # noqa: E731
        page.mouse.move(*at(75, 60))
        page.mouse.down()
        for t in range(1, 31):
            page.mouse.move(*at(75 + 130 * min(t, 15) / 15 - 45 * max(t - 15, 0) / 15,
                                60 + 120 * max(t - 15, 0) / 15))
            page.evaluate(NEXT_FRAME)
        assert page.locator(LIVE).is_visible() and page.locator(ANSWER).count() == 0
        if name == "live-projector":  # presenter mode's "Inside the network" lights up too, the server's hidden
            network = page.locator(f"{LIVE} .live-network")
            assert network.locator("svg circle").count() == 128 + 128 + 10 and network.locator("svg line").count() > 0
            lit = network.locator("svg circle[r='9']").evaluate_all(
                "circles => circles.findIndex(c => c.getAttribute('fill') !== c.getAttribute('stroke') && "
                "c.getAttribute('fill').startsWith('rgb(') && !/^rgb\\((\\d+),\\1,\\1\\)$/.test(c.getAttribute('fill')))")
            assert str(lit) == page.locator(LIVE).get_attribute("data-live-digit")
        if SCREENSHOTS:
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
        page.mouse.up()
        page.context.close()


def test_without_the_engine_s_file_the_page_answers_after_each_stroke(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/app/static/models/**", lambda route: route.abort())
    page = context.new_page()
    page.goto(server)
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    settled(page)
    draw(page, "7")
    assert answer(page) == "7"
    assert live_count(page) == 0
    context.close()
