"""What a stranger can send over the page's WebSocket: messages recorded from Chromium drawing on a
real server, then altered. Each is refused with a message, within a memory bound, while another
visitor's strokes are still answered."""

import json
import os
import threading

import pytest

from bench.room import Recording, record, run_async, start_one
from bench.strangers import (
    MEMORY_BOUND_MB,
    REFUSED,
    PeakMemory,
    attack_beside_a_visitor,
    canvas_value,
    connect,
    drawing_png,
    flood_a_room,
    flood_beside_a_visitor,
    forged,
    png_of_zeros,
    record_send,
    rerun,
)
from chromium import phone_sends
from waiting import TIMEOUT_S
from digitnet.config import DRAWINGS_ENV
from digitnet.state.room import ROOMS_FILENAME, RoomLimits, Rooms


@pytest.fixture(scope="module")
def server():
    page = start_one({**os.environ})
    yield page
    page.stop()


@pytest.fixture(scope="module")
def recording(browser, server) -> Recording:
    return record(browser, server.url)


@pytest.mark.parametrize("png", [png_of_zeros(13000, 13000), drawing_png(6000)], ids=["13000x13000", "6000x6000"])
def test_a_forged_giant_canvas_png_is_refused_unread(server, recording, png):
    attack = forged(recording.strokes[0], canvas_value(recording.strokes[0], png))
    attacked, answered, memory = attack_beside_a_visitor(server, recording, attack)
    assert any(REFUSED in alert for alert in attacked["alerts"]), attacked
    assert not attacked["exceptions"]
    assert memory.added_mb <= MEMORY_BOUND_MB, f"the server grew by {memory.added_mb:.0f} MB"
    assert not answered["exceptions"] and answered["finished"] is not None  # the other visitor still answered


@pytest.mark.parametrize("value", [
    '{"drawing": 5}',
    "not JSON at all",
    '{"drawing": {"data": "data:image/png;base64,!!!!"}}',
    '{"drawing": {"data": "data:image/jpeg;base64,/9j/4AAQSkZJRgABAQ"}}',
    '[1, 2, 3]',
], ids=["a number", "not json", "bad base64", "a jpeg", "a list"])
def test_a_canvas_value_that_is_not_a_drawing_gets_a_message_not_a_traceback(server, recording, value):
    attacked, answered, _ = attack_beside_a_visitor(server, recording, forged(recording.strokes[0], value))
    if value == "not JSON at all":
        # Streamlit itself parses a component's value before the page's script runs: the sender gets
        # its redacted error (client.showErrorDetails = "none"), never a traceback or a server path.
        assert attacked["exceptions"] and all("redacted" in e and ".py" not in e for e in attacked["exceptions"])
    else:
        assert not attacked["exceptions"], attacked["exceptions"]
        # A drawing that is not a PNG of the canvas is refused; a value with no drawing in it is no drawing yet.
        names_a_drawing = value.startswith('{"drawing"')
        assert any(REFUSED in alert for alert in attacked["alerts"]) == names_a_drawing, attacked
    assert attacked["finished"] is not None
    assert not answered["exceptions"] and answered["finished"] is not None


def test_a_message_over_streamlit_s_limit_is_refused_and_costs_little(server, recording):
    import websockets

    huge = forged(recording.strokes[0], json.dumps({"drawing": {"raw": {"objects": ["x" * 3_000_000]}}}))

    async def attack():
        attacker, visitor = await connect(server.url), await connect(server.url)
        try:
            await rerun(attacker, recording.load)
            await rerun(visitor, recording.load)
            with PeakMemory(server.pids()) as memory:
                with pytest.raises((websockets.ConnectionClosed, TimeoutError)):
                    await rerun(attacker, huge, timeout=TIMEOUT_S)
                answered = await rerun(visitor, recording.strokes[0])
            return answered, memory
        finally:
            await attacker.close()
            await visitor.close()

    answered, memory = run_async(attack())
    assert not answered["exceptions"] and answered["finished"] is not None
    assert memory.added_mb <= MEMORY_BOUND_MB


def test_a_flood_of_reruns_from_five_sessions_leaves_another_visitor_answered(server, recording):
    """Five sessions sending 150 reruns a second each, for five seconds; a sixth draws throughout."""
    answers, _, sent = flood_beside_a_visitor(server, recording)
    assert sent >= 5 * 150 * 2  # the flood was one (at least 40% of the asked rate got out)
    assert answers and all(a["finished"] is not None and not a["exceptions"] for a in answers)


def test_a_flood_of_new_sessions_sending_to_a_room_is_held_to_one_address_s_pace_beside_a_real_phone(
        browser, tmp_path):
    """A script opening a new session for every drawing, from 127.0.0.2, against a room; a phone on
    127.0.0.1 sends meanwhile and is not held back."""
    server = start_one({**os.environ, DRAWINGS_ENV: str(tmp_path / "drawings")})
    flood = []
    try:
        rooms = Rooms(tmp_path / "drawings" / ROOMS_FILENAME)
        code = rooms.open()
        recording = record_send(browser, f"{server.url}/?room={code}")
        flooding = threading.Thread(target=lambda: flood.append(
            flood_a_room(server.url, recording, sessions=200, at_once=50, source="127.0.0.2")), daemon=True)
        flooding.start()
        phone_sends(browser, server.url, code)
        flooding.join(timeout=TIMEOUT_S)
        assert not flooding.is_alive() and flood, "the flood did not end"
    finally:
        server.stop()
    limits, result = RoomLimits(), flood[0]
    assert not result.other, result.other[:5]
    assert result.busy >= 1 and result.accepted + result.busy == result.sessions
    assert result.accepted <= limits.address_burst + limits.address_rate * result.seconds + 1, result
    state = Rooms(tmp_path / "drawings" / ROOMS_FILENAME).state(code)
    assert state.drawings == result.accepted + 2 and state.people == result.accepted + 2  # the two real phones
