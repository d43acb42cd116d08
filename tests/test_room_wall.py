"""A room in real Chromium: three phones (390x844, touch) join by the link and draw to a prompt, the
projector (1280x720) shows their drawings, hides one, learns from the room, and ends it."""

import io
import json
import os
import re
import shutil
from urllib.parse import urlsplit

import numpy as np
import pytest
from playwright.sync_api import expect
from waiting import TIMEOUT_S

from chromium import LIVE_ANSWER, SCREENSHOTS, WAIT_MS, draw_on_phone, free_port, settled, start_app, wait_for_app

from digitnet.config import DRAWINGS_ENV, SHIPPED_MODEL, TrainConfig
from digitnet.data.mnist import load_mnist
from digitnet.reading.classifier import load_classifier, weights_path
from digitnet.state.links import is_loopback
from digitnet.state.room import ROOMS_FILENAME, UNLIMITED, Rooms
from digitnet.state.store import RETRAINED_ENV


@pytest.fixture
def room_server(mnist_path, tmp_path):
    """A server whose model in use is the shipped network recorded with a one-epoch recipe, so that
    "Learn from the room" (which starts from the model in use's settings) takes seconds."""
    retrained = tmp_path / "retrained"
    retrained.mkdir()
    for path in (SHIPPED_MODEL, weights_path(SHIPPED_MODEL)):
        shutil.copy(path, retrained / path.name)
    history = json.loads(SHIPPED_MODEL.with_name("history.json").read_text())
    history["config"] = TrainConfig(epochs=1, train_subset=2000, pen_digits=False, calibrate=False, teacher=False).to_json()
    history["weights"] = load_classifier(retrained / SHIPPED_MODEL.name).fingerprint
    (retrained / "history.json").write_text(json.dumps(history))
    env = {**os.environ, "DIGITNET_MNIST": str(mnist_path), RETRAINED_ENV: str(retrained),
           DRAWINGS_ENV: str(tmp_path / "drawings")}
    env.pop("DIGITNET_ADMIN_PASSWORD", None)
    port = free_port()
    process = start_app(port, env, address="0.0.0.0")  # as `make run`: phones on the network reach it
    try:
        yield wait_for_app(port, process), tmp_path / "drawings"
    finally:
        process.terminate()
        process.wait(TIMEOUT_S)


def wall_qr_code(projector, scale: float = 0.5) -> str:
    """What a phone's camera reads off the projector: the QR code in a screenshot of the whole wall,
    shrunk to `scale`."""
    import zxingcpp
    from PIL import Image

    shot = Image.open(io.BytesIO(projector.screenshot()))
    shot = shot.resize((round(shot.width * scale), round(shot.height * scale)), Image.Resampling.BILINEAR)
    found = zxingcpp.read_barcodes(shot.convert("L"))
    assert len(found) == 1, f"{len(found)} codes read off the wall at {scale:.0%}"
    return found[0].text


def test_three_phones_draw_to_a_prompt_and_the_wall_shows_learns_from_and_ends_the_room(browser, room_server,
                                                                                       mnist_path):
    url, drawings = room_server
    projector = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    projector.goto(f"{url.replace('127.0.0.1', 'localhost')}/?presenter=1")  # the presenter's own laptop
    projector.get_by_role("button", name="Start a room").click(timeout=WAIT_MS)
    code = projector.locator(".room-code").inner_text(timeout=WAIT_MS)
    link = projector.locator(".room-link b").inner_text()
    # Phones get this machine's network address, not the presenter's localhost...
    joined = urlsplit(link)
    assert not is_loopback(joined.hostname) and joined.port == urlsplit(url).port and joined.query == f"room={code}"
    assert wall_qr_code(projector) == link  # ...and read it off the projector from a few rows back.
    projector.get_by_text("loads faster, and more phones draw at once, with").wait_for()  # one process: advice
    link = link.replace(joined.hostname if ":" not in joined.hostname else f"[{joined.hostname}]", "127.0.0.1")
    assert link == f"{url}/?room={code}"  # tests send traffic only to loopback: the phones open it there
    projector.locator(".st-key-room_prompt").get_by_text("7", exact=True).click()
    projector.get_by_text("Everyone draw a 7", exact=True).wait_for(timeout=WAIT_MS)

    phones = []
    for digit in ("7", "7", "1"):
        context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True)
        phone = context.new_page()
        phone.goto(link)
        phone.get_by_text("Everyone draw a 7, then send it to the screen.").wait_for(timeout=WAIT_MS)
        draw_on_phone(phone, digit)
        assert phone.locator(LIVE_ANSWER).get_attribute("data-live-digit") == digit  # the phone's own reading
        if not phones:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            settled(phone)
            phone.screenshot(path=str(SCREENSHOTS / "room-phone.png"))
        phone.get_by_role("button", name="Send to the screen").click()
        phone.get_by_text(f"Sent: your {digit} is on the screen.").wait_for(timeout=WAIT_MS)
        phones.append(phone)

    # The wall shows all three by itself, the 1 taken for a 1 marked as missing the prompt.
    wall = projector.locator(".st-key-wall")
    wall.get_by_text("The network read 2 of your 3 sevens; this one it took for a 1.").wait_for(timeout=WAIT_MS)
    assert wall.locator("figure.tile").count() == 3 and wall.locator("figure.tile.missed").count() == 1
    assert "people: 3 · drawings: 3 · read right: 2 of 3" in wall.locator(".room-counters").inner_text()

    # Hide the miss: gone from the wall, and from what the room teaches.
    missed_id = wall.locator("figure.tile.missed figcaption span").inner_text().removeprefix("#")
    wall.locator('[data-testid="stButtonGroup"]').get_by_text(f"#{missed_id}", exact=True).click()
    wall.get_by_text("The network read 2 of your 2 sevens.").wait_for(timeout=WAIT_MS)
    assert wall.locator("figure.tile").count() == 2

    # Learn from the room: the retrain starts from the model in use's (one-epoch) settings.
    projector.get_by_role("button", name="Learn from the room").click()
    wall.get_by_text(re.compile(r"Done: MNIST test accuracy")).wait_for(timeout=WAIT_MS)
    expect(projector.get_by_role("button", name="Learn from the room")).to_be_enabled(timeout=WAIT_MS)  # again

    # A room's worth more, as 40 more phones would send them: MNIST's sevens, read by the network in use.
    rooms = Rooms(drawings / ROOMS_FILENAME, UNLIMITED)
    data = load_mnist(mnist_path).upright()
    classifier = load_classifier(SHIPPED_MODEL)
    for phone, x in enumerate(data.x_test[data.y_test == 7][:40] / np.float32(255)):
        p = classifier.predict_proba(x)
        rooms.send(code, f"more-{phone}", x, int(p.argmax()), float(p.max()))
    wall.get_by_text("drawings: 42").wait_for(timeout=WAIT_MS)
    assert wall.locator("figure.tile").count() == 24  # the newest three rows of eight, beside the QR code
    projector.screenshot(path=str(SCREENSHOTS / "room-wall.png"))

    projector.get_by_role("button", name="End the room").click()
    projector.get_by_role("button", name="Start a room").wait_for(timeout=WAIT_MS)
    phones[0].reload()
    phones[0].get_by_text(f"There is no open room {code}").wait_for(timeout=WAIT_MS)
    with pytest.raises(Exception, match="no open room"):
        rooms.state(code)
    import sqlite3

    with sqlite3.connect(rooms.path) as db:
        assert db.execute("SELECT COUNT(*) FROM drawings").fetchone()[0] == 0
