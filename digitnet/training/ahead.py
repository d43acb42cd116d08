"""Drawing the pen digits ahead: a retrain from the page draws real people's pen digits like a canvas
would (minutes on two cores), and its teacher reads every training image (half a minute), so the page's
server starts `python -m digitnet draw-ahead` at its start, at the lowest priority, and a retrain then
finds both in the cache."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from digitnet.config import DRAW_AHEAD_ENV, DRAW_AHEAD_LOCK, TrainConfig, cache_dir, child_environment, setting
from digitnet.errors import DigitnetError
from digitnet.state.store import ModelStore

if TYPE_CHECKING:  # the page's server imports this module: the data's loaders wait until they are needed
    from digitnet.data.pendigits import PenDigits

log = logging.getLogger(__name__)


def start_drawing_ahead(env: dict[str, str] | None = None) -> subprocess.Popen | None:
    """Start `python -m digitnet draw-ahead` (draws the pen digits a retrain needs into the cache, at the
    lowest priority, one at a time), so that a retrain from the page skips the drawing; None when
    $DIGITNET_DRAW_AHEAD is "0" or it cannot start. Its log is draw-ahead.log in the cache."""
    env = child_environment(env)
    if setting(DRAW_AHEAD_ENV, env) == "0":
        return None
    folder = cache_dir(env)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "draw-ahead.log").open("ab") as log_file:
            process = subprocess.Popen([sys.executable, "-m", "digitnet", "draw-ahead"], env=env,
                                       stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    except OSError as exc:
        log.warning("Could not start drawing the pen digits in the background: %s", exc)
        return None
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
    return process


def draw_ahead(pendigits: Path | None = None, unipen: Path | None = None) -> None:
    """`python -m digitnet draw-ahead`: at the lowest priority, under the cache's lock (or not
    at all when another process holds it), draw the pen digits a retrain with the model in use's
    settings needs, and have its teacher read the training images if it learns from one; stop when
    the page server that started it is gone."""
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.training.recipe import draw_pen_digits

    os.nice(19)  # the drawing workers inherit it: a room's strokes come first
    _exit_when_orphaned()
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / DRAW_AHEAD_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("The pen digits are already being drawn (%s is held)", lock.lock_file)
        return
    try:
        started = time.perf_counter()
        settings, pens = ModelStore().settings_in_use(), load_pen_collections(pendigits, unipen)
        draw_pen_digits(settings, pens)
        log.info("The pen digits of the model in use's recipe are drawn and cached in %s (%.0f s)", folder,
                 time.perf_counter() - started)
        if settings.teacher:
            _teacher_reads_ahead(settings, pens)
    finally:
        lock.release()


def _teacher_reads_ahead(settings: TrainConfig, pens: "tuple[PenDigits, ...]") -> None:
    """Have the teacher read the images a retrain with `settings` learns from, into the cache."""
    from digitnet.data.mnist import load_mnist
    from digitnet.training.recipe import training_sets
    from digitnet.training.teacher import teacher_answers

    try:
        teacher_answers(training_sets(settings, load_mnist(), pens).train.x)
    except DigitnetError as exc:  # a retrain will say the same, to the person who asked for it
        log.warning("The teacher could not read the training images ahead: %s", exc)


def _exit_when_orphaned() -> None:
    """End this process (and with it, its drawing workers) once the page server that started it is gone.

    The server cannot ask for a signal at its death (its script threads come and go), so this looks.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        log.info("The page's server is gone: stopping")
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
