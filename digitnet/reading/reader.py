"""Reading a canvas' drawing, from the PNG it sent to the network's answer, in a process of its own.

Why a process: one Streamlit server runs every visitor's script in threads of one Python interpreter.
Decoding the PNG, `to_mnist` and the network make some forty numpy and Pillow calls, and each lets go
of Python's lock; while other visitors' threads wait for it, every call costs a hand-over. Measured on
one drawing of the page's canvas: 2.4 ms of CPU alone, 6.9 ms beside one busy thread
(docs/room-network.md). Read by a child process, a drawing costs the server one write and one read.

The child holds no state but the last classifier it was sent, and ends when the server does (its
standard input closes). Whatever goes wrong with it, the drawing is read in the server instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from PIL import Image

from digitnet.config import child_environment
from digitnet.errors import BlankImageError, CanvasError, DigitnetError, EmptyImageError, ImageError
from digitnet.reading.classifier import Classifier
from digitnet.reading.preprocess import read_canvas_png, to_mnist

log = logging.getLogger(__name__)

# How long a read may take in the child (a busy machine included) before the server reads it itself.
READ_TIMEOUT_S = 5.0
# The child's first answer also waits for it to start (imports numpy and Pillow): about half a second.
START_TIMEOUT_S = 30.0
# After the child failed, the server reads drawings itself this long before it starts a new one.
RETRY_AFTER_S = 30.0
# The errors a read may raise, sent back by name (another of digitnet's would come back as an
# ImageError); an exception that is not digitnet's is a fault, and ends the child.
ERRORS = {cls.__name__: cls for cls in (CanvasError, EmptyImageError, BlankImageError, ImageError)}


@dataclass(frozen=True)
class Reading:
    """What the network saw, (28, 28) float32 in [0, 1], and its ten probabilities."""

    x: np.ndarray
    probabilities: np.ndarray


def read_image(image: np.ndarray | Image.Image, classifier: Classifier) -> Reading:
    """Read in this process any image `to_mnist` takes; its errors as `to_mnist` raises them."""
    x = to_mnist(image)
    return Reading(x, classifier.predict_proba(x))


def read_canvas(png: bytes, canvas_size: tuple[int, int], classifier: Classifier) -> Reading:
    """Read in this process the PNG a canvas of `canvas_size` (width, height) sent. CanvasError when it
    is not a drawing of that canvas; EmptyImageError, BlankImageError or ImageError as `to_mnist`."""
    return read_image(read_canvas_png(png, canvas_size), classifier)


class CanvasReader:
    """Reads canvas drawings in one child process, one at a time; any number of threads may call `read`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._child: subprocess.Popen | None = None
        self._classifier: Classifier | None = None  # the one the child holds
        self._answered = False  # whether the child has answered once, so has started
        self._retry_at = 0.0

    def read(self, png: bytes, canvas_size: tuple[int, int], classifier: Classifier) -> Reading:
        """As `read_canvas`, in the child; in this process when the child cannot be used just now."""
        with self._lock:
            if time.monotonic() >= self._retry_at:
                try:
                    return self._ask(png, canvas_size, classifier)
                except (OSError, EOFError, pickle.PickleError, TimeoutError) as exc:
                    log.warning("The drawing reader failed (%s): the server reads drawings itself for %.0f s",
                                exc, RETRY_AFTER_S)
                    self._stop()
                    self._retry_at = time.monotonic() + RETRY_AFTER_S
        return read_canvas(png, canvas_size, classifier)

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _ask(self, png: bytes, canvas_size: tuple[int, int], classifier: Classifier) -> Reading:
        if self._child is None:
            self._start()
        sent = classifier if classifier is not self._classifier else None  # weights only when they change
        pickle.dump((png, canvas_size, sent), self._child.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        self._child.stdin.flush()
        self._classifier = classifier
        timeout = READ_TIMEOUT_S if self._answered else START_TIMEOUT_S
        if not select.select([self._child.stdout], [], [], timeout)[0]:
            raise TimeoutError(f"no answer within {timeout:.0f} s")
        reply = pickle.load(self._child.stdout)
        self._answered = True
        if reply[0] == "error":
            raise ERRORS.get(reply[1], ImageError)(reply[2])
        return Reading(reply[1], reply[2])

    def _start(self) -> None:
        # Small matrices: BLAS threads would only spin beside the server.
        env = child_environment({**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"})
        self._child = subprocess.Popen([sys.executable, "-m", "digitnet.reading.reader"], env=env,
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self._classifier, self._answered = None, False
        log.info("Started the drawing reader (process %d)", self._child.pid)

    def _stop(self) -> None:
        if self._child is None:
            return
        self._child.kill()
        self._child.wait()
        for pipe in (self._child.stdin, self._child.stdout):
            with contextlib.suppress(OSError):  # a request left unsent to a dead child: nothing to flush it to
                pipe.close()
        self._child, self._classifier = None, None


def serve(requests: BinaryIO, replies: BinaryIO) -> None:
    """The child: read each drawing sent on `requests`, answer on `replies`, until `requests` closes."""
    classifier = None
    while True:
        try:
            png, canvas_size, sent = pickle.load(requests)
        except EOFError:
            return
        classifier = sent or classifier
        try:
            reading = read_canvas(png, canvas_size, classifier)
            reply = ("ok", reading.x, reading.probabilities)
        except DigitnetError as exc:
            reply = ("error", type(exc).__name__, str(exc))
        pickle.dump(reply, replies, protocol=pickle.HIGHEST_PROTOCOL)
        replies.flush()


if __name__ == "__main__":
    # Ctrl-C in the terminal of `make run` reaches the whole process group: the server stops, and
    # this child with it, through its closed input, without a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(sys.stdin.buffer, sys.stdout.buffer)
