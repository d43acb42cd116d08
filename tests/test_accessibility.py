"""WCAG 2.2 AA as axe-core measures it (axe-playwright-python), on the screens a digit was just drawn
and answered on: the Draw page at a desk, presenter mode on a projector, and a room's phone."""

import pytest

from chromium import CANVAS, IDLE, WAIT_MS, answer, draw, page_server, phone_draws, settled

TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22a", "wcag22aa"]


@pytest.fixture(scope="module")
def server(mnist_path, tmp_path_factory):
    folder = tmp_path_factory.mktemp("accessibility")
    with page_server(mnist_path, folder) as url:
        yield url, folder / "drawings"


def violations(page) -> list[str]:
    """Each rule the page breaks, with the first few elements that break it."""
    from axe_playwright_python.sync_playwright import Axe

    page.locator(IDLE).wait_for(timeout=WAIT_MS)
    found = Axe().run(page, options={"runOnly": {"type": "tag", "values": TAGS}}).response
    assert found["passes"], "axe checked nothing"
    return [f"{v['id']}: {v['help']} ({[n['target'] for n in v['nodes'][:3]]})" for v in found["violations"]]


@pytest.mark.parametrize("address, viewport", [("/", {"width": 1400, "height": 1000}),
                                               ("/?presenter=1", {"width": 1280, "height": 720})])
def test_the_draw_page_with_an_answer_breaks_no_rule(browser, server, address, viewport):
    url, _ = server
    page = browser.new_page(viewport=viewport)
    page.goto(url + address)
    page.locator(CANVAS).wait_for(timeout=WAIT_MS)
    settled(page)
    draw(page, "7")
    assert answer(page) == "7"
    assert violations(page) == []
    page.close()


def test_a_room_s_phone_with_a_digit_drawn_and_sent_breaks_no_rule(browser, server):
    from digitnet.state.room import ROOMS_FILENAME, Rooms

    url, drawings = server
    drawings.mkdir(parents=True, exist_ok=True)
    phone = phone_draws(browser, url, Rooms(drawings / ROOMS_FILENAME).open())
    assert violations(phone) == []  # the phone's own reading shown
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("is on the screen").wait_for(timeout=WAIT_MS)
    assert violations(phone) == []
    phone.context.close()
