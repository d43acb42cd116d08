"""Each drawing reaches the wall once: a phone on a slow network that clicks Send three times."""

import time

import pytest
from waiting import eventually

from chromium import IDLE, WAIT_MS, draw_on_phone, page_server, phone_draws
from digitnet.state.room import ROOMS_FILENAME, SEND_INTERVAL_S, Rooms

# A Wi-Fi so crowded that a Send takes seconds to come back: time for a person to click again.
SLOW_WIFI = {"offline": False, "latency": 1500, "downloadThroughput": 500_000 / 8, "uploadThroughput": 500_000 / 8}


@pytest.fixture
def server(mnist_path, tmp_path):
    with page_server(mnist_path, tmp_path) as url:
        yield url, tmp_path / "drawings" / ROOMS_FILENAME


def test_three_clicks_on_a_slow_send_put_one_drawing_on_the_wall(browser, server):
    url, store = server
    code = Rooms(store).open()
    phone = phone_draws(browser, url, code)
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    send = phone.get_by_role("button", name="Send to the screen")
    session = phone.context.new_cdp_session(phone)
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
    phone.context.close()


def test_a_phone_that_reloads_is_the_same_phone_on_the_wall(browser, server):
    url, store = server
    code = Rooms(store).open()
    phone = phone_draws(browser, url, code, "7")
    sent_at = 0.0
    for digit in ("7", "1"):
        if digit == "1":
            assert "phone=" in phone.url
            phone.reload()  # the address keeps the phone
            draw_on_phone(phone, digit)
        eventually(lambda: time.time() >= sent_at + SEND_INTERVAL_S, "the phone's pace")  # one every 2 s
        phone.get_by_role("button", name="Send to the screen").click(timeout=WAIT_MS)
        phone.get_by_text(f"Sent: your {digit} is on the screen").wait_for(timeout=WAIT_MS)
        sent_at = time.time()
    state = Rooms(store).state(code)
    assert (state.people, state.drawings) == (1, 2)
    phone.context.close()
