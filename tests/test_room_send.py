"""A room's phone in Chromium: it reads its own strokes and tells the server only its Sends; each drawing
reaches the wall once, even from a phone on a slow network that clicks Send three times."""

import time

import pytest
from waiting import eventually

from chromium import IDLE, LIVE_ANSWER, PAD, WAIT_MS, draw_on_phone, page_server, phone_draws, touch_draw
from digitnet.state.room import ROOMS_FILENAME, SEND_INTERVAL_S, Rooms

# A Wi-Fi so crowded that a Send takes seconds to come back: time for a person to click again.
SLOW_WIFI = {"offline": False, "latency": 1500, "downloadThroughput": 500_000 / 8, "uploadThroughput": 500_000 / 8}
DISCONNECTED = '[data-testid="stStatusWidget"]:has-text("Connecting")'  # Streamlit's own sign, top right


@pytest.fixture
def server(mnist_path, tmp_path):
    with page_server(mnist_path, tmp_path) as url:
        yield url, tmp_path / "drawings" / ROOMS_FILENAME


def test_three_clicks_on_a_slow_send_put_one_drawing_on_the_wall(browser, server):
    url, store = server
    code = Rooms(store).open()
    phone = phone_draws(browser, url, code)
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    send = phone.locator("button.pad-send")  # by its place: its words change while it sends
    assert send.inner_text() == "Send to the screen"
    session = phone.context.new_cdp_session(phone)
    session.send("Network.enable")
    session.send("Network.emulateNetworkConditions", SLOW_WIFI)
    send.click(timeout=WAIT_MS)
    assert send.get_attribute("aria-disabled") == "true" and send.inner_text() == "Sending…"  # on its way
    for _ in range(2):  # a person clicks on, whatever the button says
        send.click(force=True, timeout=WAIT_MS)
    phone.get_by_text("is on the screen").wait_for(timeout=WAIT_MS)
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    assert Rooms(store).state(code).drawings == 1
    assert ink(phone) == 0  # a fresh pad: nothing sends the old drawing again
    phone.context.close()


def ink(phone) -> int:
    """How many of the pad's pixels are not its black background."""
    return phone.locator(PAD).evaluate("""canvas => {
        const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
        let inked = 0;
        for (let i = 0; i < pixels.length; i += 4) if (pixels[i] || pixels[i + 1] || pixels[i + 2]) inked++;
        return inked;
    }""")


def test_a_phone_reads_its_strokes_itself_and_the_server_hears_only_its_send(browser, server):
    from streamlit.proto.BackMsg_pb2 import BackMsg

    url, store = server
    code = Rooms(store).open()
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    phone = context.new_page()
    runs: list[BackMsg] = []

    def keep(frame) -> None:
        message = BackMsg.FromString(frame if isinstance(frame, bytes) else frame.encode())
        if message.WhichOneof("type") == "rerun_script" and not message.rerun_script.is_auto_rerun:
            runs.append(message)  # a run a person caused (the prompt's timed look is not one)

    phone.on("websocket", lambda ws: ws.on("framesent", keep))
    phone.goto(f"{url}/?room={code}")
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    before = len(runs)
    draw_on_phone(phone, "7")
    touch_draw(phone, "7", scale=phone.locator(PAD).bounding_box()["width"] / 280, canvas=PAD)  # strokes over it
    live = phone.locator(LIVE_ANSWER)
    assert int(live.get_attribute("data-live-count")) >= 8 and live.get_attribute("data-live-digit") == "7"
    assert len(runs) == before  # five strokes, and not one message to the server
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("Sent: your 7 is on the screen").wait_for(timeout=WAIT_MS)
    assert len(runs) == before + 1  # the one finished drawing
    assert [t.answer for t in Rooms(store).state(code).tiles] == [7]  # the server's own reading of it
    context.close()


def test_a_phone_without_the_engine_s_file_still_sends_and_hears_the_server_s_answer(browser, server):
    url, store = server
    code = Rooms(store).open()
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
    context.route("**/app/static/models/**", lambda route: route.abort())
    phone = context.new_page()
    phone.goto(f"{url}/?room={code}")
    phone.locator(IDLE).wait_for(timeout=WAIT_MS)
    touch_draw(phone, "1", scale=phone.locator(PAD).bounding_box()["width"] / 280, canvas=PAD)
    phone.get_by_role("button", name="Send to the screen").click()
    phone.get_by_text("Sent: your 1 is on the screen").wait_for(timeout=WAIT_MS)
    assert phone.locator(LIVE_ANSWER).count() == 0
    context.close()


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


def test_a_phone_that_drops_off_the_wifi_draws_on_and_sends_when_it_is_back(browser, server):
    from wifi import Wifi

    url, store = server
    code = Rooms(store).open()
    wifi = Wifi(int(url.rsplit(":", 1)[1]))
    try:
        phone = phone_draws(browser, wifi.url, code, "1")
        phone.locator(IDLE).wait_for(timeout=WAIT_MS)
        wifi.drop()
        phone.locator(DISCONNECTED).wait_for(timeout=WAIT_MS)  # the page knows it lost the server
        phone.get_by_role("button", name="Clear").click()
        touch_draw(phone, "7", scale=phone.locator(PAD).bounding_box()["width"] / 280, canvas=PAD)
        eventually(lambda: phone.locator(LIVE_ANSWER).get_attribute("data-live-digit") == "7",
                   "the phone's own reading, with no server")
        wifi.restore()
        phone.locator(DISCONNECTED).wait_for(state="detached", timeout=WAIT_MS)
        phone.get_by_role("button", name="Send to the screen").click(timeout=WAIT_MS)
        phone.get_by_text("Sent: your 7 is on the screen").wait_for(timeout=WAIT_MS)
        state = Rooms(store).state(code)
        assert (state.people, state.drawings, [t.answer for t in state.tiles]) == (1, 1, [7])  # no new join
        phone.context.close()
    finally:
        wifi.close()
