"""The room simulator itself, on a few visitors against a real server: it counts answers, and errors."""

import os

import pytest

from bench.room import ECHO_APP, Recording, record, run_room, start_one


@pytest.fixture
def echo(tmp_path):
    server = start_one({**os.environ}, ECHO_APP)
    yield server
    server.stop()


def test_recorded_strokes_replayed_by_a_few_visitors_are_each_answered(browser, echo):
    recording = record(browser, echo.url)
    assert isinstance(recording, Recording) and len(recording.strokes) == 3 and len(set(recording.strokes)) == 3
    result = run_room(echo.url, recording, visitors=3, seconds=4.0)
    assert not result.errors
    # Each visitor draws every 1.5 s for 4 s: 3 strokes each, give or take where it started.
    assert 6 <= len(result.latencies_ms) <= 12
    assert all(0 < ms < 5000 for ms in result.latencies_ms)


def test_a_server_that_goes_away_is_counted_as_errors_not_answers(browser, echo):
    recording = record(browser, echo.url)
    echo.stop()
    result = run_room(echo.url, recording, visitors=2, seconds=2.0)
    assert len(result.errors) == 2 and not result.latencies_ms
