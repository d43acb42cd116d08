"""Reading canvas drawings in a child process: the same answers as in the server, errors that cross,
and a child that dies or hangs costing a visitor nothing but the time limit."""

import io
import os
import re
import signal
import threading

import numpy as np
import pytest
from conftest import as_canvas, stroke_image
from waiting import TIMEOUT_S
from PIL import Image

from digitnet import BlankImageError, CanvasError, EmptyImageError, load_classifier
from digitnet.reading import reader as reader_module
from digitnet.reading.classifier import Classifier, DenseLayer
from digitnet.reading.reader import CanvasReader, read_canvas

CANVAS_SIZE = (280, 280)


def canvas_png(grey: np.ndarray) -> bytes:
    """What the page's canvas sends for a white-on-black drawing: an opaque RGBA PNG."""
    buffer = io.BytesIO()
    Image.fromarray(as_canvas(grey), "RGBA").save(buffer, "PNG")
    return buffer.getvalue()


DRAWINGS = {kind: canvas_png(stroke_image(kind)) for kind in ("0", "1", "7")}


@pytest.fixture
def reader():
    reader = CanvasReader()
    try:
        yield reader
    finally:
        reader.close()


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return load_classifier()


def child_pid(reader: CanvasReader) -> int | None:
    return reader._child.pid if reader._child else None


def test_the_child_reads_as_the_server_would(reader, classifier):
    for png in DRAWINGS.values():
        here, there = read_canvas(png, CANVAS_SIZE, classifier), reader.read(png, CANVAS_SIZE, classifier)
        np.testing.assert_array_equal(there.x, here.x)
        np.testing.assert_allclose(there.probabilities, here.probabilities, rtol=1e-6)
    assert child_pid(reader) is not None  # read there, not here


def test_a_new_model_is_sent_to_the_child_and_used(reader, classifier):
    png = DRAWINGS["7"]
    first = reader.read(png, CANVAS_SIZE, classifier)
    # The same network with the last layer's biases favouring another digit.
    other = np.zeros(10, np.float32)
    other[(int(first.probabilities.argmax()) + 1) % 10] = 100.0
    layers = list(classifier.dense)
    layers[-1] = DenseLayer(layers[-1].kernel, other, layers[-1].activation)
    retrained = Classifier(layers)
    assert reader.read(png, CANVAS_SIZE, retrained).probabilities.argmax() == other.argmax()
    assert reader.read(png, CANVAS_SIZE, classifier).probabilities.argmax() == first.probabilities.argmax()


@pytest.mark.parametrize("png, error", [
    (canvas_png(np.zeros((280, 280), np.uint8)), EmptyImageError),  # nothing drawn
    (b"not a png", CanvasError),
    (canvas_png(np.zeros((100, 100), np.uint8)), CanvasError),  # not this canvas' size
])
def test_what_cannot_be_read_raises_the_same_error_as_in_the_server(reader, classifier, png, error):
    with pytest.raises(error) as there:
        reader.read(png, CANVAS_SIZE, classifier)
    with pytest.raises(error) as here:
        read_canvas(png, CANVAS_SIZE, classifier)
    said = [re.sub(r"0x[0-9a-f]+", "", str(raised.value)) for raised in (there, here)]  # an object's address
    assert type(there.value) is type(here.value) and said[0] == said[1]
    assert reader.read(DRAWINGS["1"], CANVAS_SIZE, classifier)  # the child goes on


def test_a_dot_is_said_to_be_a_dot(reader, classifier):
    dot = np.zeros((280, 280), np.uint8)
    dot[130:150, 130:150] = 255
    with pytest.raises(BlankImageError, match="dot or a blob"):
        reader.read(canvas_png(dot), CANVAS_SIZE, classifier)


def test_a_killed_child_costs_no_answer_and_a_new_one_starts_later(reader, classifier, monkeypatch, caplog):
    expected = read_canvas(DRAWINGS["0"], CANVAS_SIZE, classifier)
    reader.read(DRAWINGS["0"], CANVAS_SIZE, classifier)
    killed = child_pid(reader)
    os.kill(killed, signal.SIGKILL)
    np.testing.assert_array_equal(reader.read(DRAWINGS["0"], CANVAS_SIZE, classifier).x, expected.x)
    assert "The drawing reader failed" in caplog.text
    assert child_pid(reader) is None  # read in the server, for now
    monkeypatch.setattr(reader_module, "RETRY_AFTER_S", 0.0)
    reader._retry_at = 0.0  # the wait is over
    np.testing.assert_array_equal(reader.read(DRAWINGS["0"], CANVAS_SIZE, classifier).x, expected.x)
    assert child_pid(reader) not in (None, killed)


def test_a_child_that_hangs_is_given_up_after_the_time_limit(reader, classifier, monkeypatch):
    reader.read(DRAWINGS["7"], CANVAS_SIZE, classifier)
    monkeypatch.setattr(reader_module, "READ_TIMEOUT_S", 0.5)
    hung = reader._child
    os.kill(hung.pid, signal.SIGSTOP)
    try:
        assert reader.read(DRAWINGS["7"], CANVAS_SIZE, classifier).probabilities.argmax() == 7
    finally:
        if hung.poll() is None:
            os.kill(hung.pid, signal.SIGCONT)
    assert hung.poll() is not None and child_pid(reader) is None


def test_many_threads_at_once_each_get_their_own_answer(reader, classifier):
    expected = {kind: read_canvas(png, CANVAS_SIZE, classifier).x for kind, png in DRAWINGS.items()}
    wrong = []

    def visitor(kind: str) -> None:
        for _ in range(10):
            if not np.array_equal(reader.read(DRAWINGS[kind], CANVAS_SIZE, classifier).x, expected[kind]):
                wrong.append(kind)

    threads = [threading.Thread(target=visitor, args=(kind,), daemon=True) for kind in "017" * 3]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_S)
    assert not wrong and child_pid(reader) is not None


def test_the_child_ends_when_the_server_closes_its_input(reader, classifier):
    reader.read(DRAWINGS["1"], CANVAS_SIZE, classifier)
    child = reader._child
    child.stdin.close()  # as when the server's process ends, however it ends
    assert child.wait(timeout=TIMEOUT_S) == 0


def test_ctrl_c_in_the_terminal_leaves_the_child_to_end_with_the_server(reader, classifier):
    reader.read(DRAWINGS["1"], CANVAS_SIZE, classifier)
    child = child_pid(reader)
    os.kill(child, signal.SIGINT)  # as the terminal sends it to the whole process group
    assert reader.read(DRAWINGS["1"], CANVAS_SIZE, classifier).probabilities.argmax() == 1
    assert child_pid(reader) == child
