"""Each drawing reaches the wall once: a phone on a slow network that clicks Send three times."""

import os

import pytest
from waiting import TIMEOUT_S

from chromium import ANSWER, CANVAS, IDLE, WAIT_MS, free_port, settled, start_app, touch_draw, wait_for_app
from digitnet.config import DRAWINGS_ENV
from digitnet.state.room import ROOMS_FILENAME, Rooms
from digitnet.state.store import RETRAINED_ENV

# A Wi-Fi so crowded that a Send takes seconds to come back: time for a person to click again.
SLOW_WIFI = {"offline": False, "latency": 1500, "downloadThroughput": 500_000 / 8, "uploadThroughput": 500_000 / 8}


@pytest.fixture
def server(mnist_path, tmp_path):
    env = {**os.environ, "DIGITNET_MNIST": str(mnist_path), RETRAINED_ENV: str(tmp_path / "retrained"),
           DRAWINGS_ENV: str(tmp_path / "drawings")}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    port = free_port()
    process = start_app(port, env)
    try:
        yield wait_for_app(port, process), tmp_path / "drawings" / ROOMS_FILENAME
    finally:
        process.terminate()
        process.wait(TIMEOUT_S)


def test_three_clicks_on_a_slow_send_put_one_drawing_on_the_wall(browser, server):
    url, store = server
    code = Rooms(store).open()
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{url}/?room={code}")
    phone.locator(CANVAS).wait_for(timeout=WAIT_MS)
    settled(phone)
    touch_draw(phone, "7", scale=phone.locator(CANVAS).bounding_box()["width"] / 280)
    phone.locator(ANSWER).wait_for(timeout=WAIT_MS)
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    send = phone.get_by_role("button", name="Send to the screen")
    session = context.new_cdp_session(phone)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", SLOW_WIFI)
    send.click(timeout=WAIT_MS)
    assert send.get_attribute("data-sending") == "1"  # it says it is on its way
    for _ in range(2):  # a person clicks on, whatever the button says
        send.click(force=True, timeout=WAIT_MS)
    phone.get_by_text("is on the screen").wait_for(timeout=WAIT_MS)
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    assert Rooms(store).state(code).drawings == 1
    assert phone.get_by_role("button", name="Send to the screen").count() == 0  # nothing sends the old drawing
    context.close()


def test_a_phone_that_reloads_is_the_same_phone_on_the_wall(browser, server):
    import time

    from waiting import eventually

    from digitnet.state.room import SEND_INTERVAL_S

    url, store = server
    code = Rooms(store).open()
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    phone.goto(f"{url}/?room={code}")
    sent_at = 0.0
    for digit in ("7", "1"):
        phone.locator(CANVAS).wait_for(timeout=WAIT_MS)
        settled(phone)
        touch_draw(phone, digit, scale=phone.locator(CANVAS).bounding_box()["width"] / 280)
        phone.locator(ANSWER).wait_for(timeout=WAIT_MS)
        eventually(lambda: time.time() >= sent_at + SEND_INTERVAL_S, "the phone's pace")  # one every 2 s
        phone.get_by_role("button", name="Send to the screen").click(timeout=WAIT_MS)
        phone.get_by_text(f"Sent: your {digit} is on the screen").wait_for(timeout=WAIT_MS)
        sent_at = time.time()
        if digit == "7":
            assert "phone=" in phone.url
            phone.reload()  # the address keeps the phone
    state = Rooms(store).state(code)
    assert (state.people, state.drawings) == (1, 2)
    context.close()
