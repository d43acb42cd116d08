"""The room simulator itself, on a few visitors against a real server: it counts answers, and errors."""

import os

import pytest

from bench.room import ECHO_APP, PHONE, Recording, record, run_room, start_one
from digitnet.config import DRAWINGS_ENV
from digitnet.state.room import ROOMS_FILENAME, Rooms


@pytest.fixture
def echo(tmp_path):
    server = start_one({**os.environ}, ECHO_APP)
    yield server
    server.stop()


def test_recorded_strokes_replayed_by_a_few_visitors_are_each_answered(browser, echo):
    recording = record(browser, echo.url)
    assert isinstance(recording, Recording) and len(recording.strokes) == 3 and len(set(recording.strokes)) == 3
    result = run_room(echo.url, recording, visitors=3, seconds=6.0)
    assert not result.errors
    # Each visitor starts a digit of 3 strokes within 5 s, and another every 5 s while the room draws.
    assert 9 <= len(result.latencies_ms) <= 18
    assert all(0 < ms < 5000 for ms in result.latencies_ms)


def test_a_server_that_goes_away_is_counted_as_errors_not_answers(browser, echo):
    recording = record(browser, echo.url)
    echo.stop()
    result = run_room(echo.url, recording, visitors=2, seconds=2.0)
    assert len(result.errors) == 2 and not result.latencies_ms


def test_a_phone_s_recorded_send_replayed_puts_a_drawing_of_its_own_on_the_wall_each_time(browser, tmp_path):
    server = start_one({**os.environ, DRAWINGS_ENV: str(tmp_path)})
    try:
        code = Rooms(tmp_path / ROOMS_FILENAME).open()
        recording = record(browser, f"{server.url}/?room={code}", PHONE)
        assert recording.send and not recording.strokes and recording.poll  # no stroke reaches the server
        result = run_room(server.url, recording, visitors=2, seconds=6.0)  # the address is in what was recorded
    finally:
        server.stop()
    assert not result.errors
    # The recording's own drawing, then each visitor's one or two: each stored, none taken for another.
    assert 3 <= Rooms(tmp_path / ROOMS_FILENAME).state(code).drawings == 1 + len(result.latencies_ms) <= 5
