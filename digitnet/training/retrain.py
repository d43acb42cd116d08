"""The training process's side of a retrain the page started (`python -m digitnet train --report`):
hold the lock, report each epoch in the status file the pages read, stop when one asks, save whole.

Its heavy imports wait until they are needed, after the lock is held: the page imports `jobs` for
TrainingJob and must not load TensorFlow or the drawing code.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from filelock import Timeout

from digitnet.config import TrainConfig
from digitnet.reading.classifier import Classifier, save_weights
from digitnet.state.store import ModelStore
from digitnet.training.jobs import (BUSY_EXIT, CANCEL_POLL_S, CANCELLED, CANCELLED_EXIT, FAILED, RUNNING, SUCCEEDED,
                                    JobFiles, JobStatus, is_training_process)
from digitnet.training.shared import HeldRetrain, OneMachine, hold_retrain

log = logging.getLogger(__name__)

# The page's visitors come first: at this niceness a retrain (and its drawing workers) takes the CPU the
# page's server leaves, and a stroke is answered as soon during a retrain as without one.
RETRAIN_NICENESS = 10


class JobReporter:
    """The training process's side: writes its status for the pages, and stops when one asks.

    Cancellation is watched from a thread, so it also stops the minutes before the first epoch
    (loading and drawing the data); only the save, once begun, is let finish, so that the model,
    its history and its weights stay of one piece.
    """

    def __init__(self, files: JobFiles, config: TrainConfig, machines: HeldRetrain | OneMachine = OneMachine()):
        self.files = files
        self.machines = machines  # with a database, the other machines' pages read it there too
        self._guard = threading.Lock()
        self._saving = False
        self._status = JobStatus(state=RUNNING, config=config, started=time.time(), pid=os.getpid(),
                                 message="Loading the data...")
        self.files.write(self._status)
        self.machines.start(self._status)
        shutil.rmtree(self.files.epochs_folder, ignore_errors=True)  # the last run's epochs
        threading.Thread(target=self._watch_for_cancel, name="digitnet-cancel", daemon=True).start()

    def update(self, **changes) -> None:
        with self._guard:
            self._status = dataclasses.replace(self._status, **changes)
            self._write()

    def _write(self) -> None:
        self.files.write(self._status)
        self.machines.write(self._status)

    def epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        curves = {name: [*self._status.curves.get(name, []), value] for name, value in metrics.items()}
        self.update(epochs_done=epoch, curves=curves,
                    message=f"Epoch {epoch} of {self._status.config.epochs} done.")

    def keep_epoch(self, epoch: int, classifier: Classifier) -> None:
        """Keep the network as it is after `epoch`, so pages can show how its answers change."""
        save_weights(classifier, self.files.epoch_path(epoch))

    def saving(self) -> None:
        with self._guard:
            self._saving = True
        self.update(message="Saving the model...")

    def finish(self, state: str, message: str, test_accuracy: float | None = None) -> None:
        log.info("Training %s: %s", state, message)
        self.update(state=state, message=message, test_accuracy=test_accuracy)
        self.files.cancel_path.unlink(missing_ok=True)

    def _watch_for_cancel(self) -> None:
        while True:
            time.sleep(CANCEL_POLL_S)
            with self._guard:
                if self._saving or self._status.state != RUNNING:
                    return
                if not (self.files.cancel_path.exists() or self.machines.stop_asked()):
                    continue
                done = self._status.epochs_done
                self._status = dataclasses.replace(self._status, state=CANCELLED, message=(
                    f"Training was cancelled after {done} complete epoch{'' if done == 1 else 's'}. "
                    "The model in use is unchanged."))
                self._write()
                self.files.cancel_path.unlink(missing_ok=True)
            log.info("Training cancelled")
            os._exit(CANCELLED_EXIT)  # at once, wherever it was; nothing of the run was saved


@dataclass(frozen=True)
class DataFiles:
    """Where a training reads its data: None for each means its default (see load_mnist, load_pendigits,
    load_unipen)."""

    mnist: Path | None = None
    pendigits: Path | None = None
    unipen: Path | None = None
    room: str | None = None  # a room's code: also learn from the drawings its phones sent to a prompt


def run_reported_retrain(config: TrainConfig, data: DataFiles, out: Path) -> int:
    """The page's retrain, in its own process: hold the lock in `out` (BUSY_EXIT if another retrain
    runs), write the status there for the pages, train, save; the exit code says how it ended."""
    os.nice(RETRAIN_NICENESS)
    files = JobFiles(out)
    machines = hold_retrain()  # with a database, every machine's lock first
    if machines is None:
        log.error("error: another retrain is running (on another machine)")
        return BUSY_EXIT
    try:
        lock = files.lock()
        try:
            lock.acquire(timeout=0)
        except Timeout:
            log.error("error: another retrain is running (it holds %s)", lock.lock_file)
            return BUSY_EXIT
        try:
            other = files.read()
            if other.running and other.pid != os.getpid() and is_training_process(other.pid):
                # its lock file was deleted under it: the process is what counts
                log.error("error: another retrain is running (process %d)", other.pid)
                return BUSY_EXIT
            return _reported(config, data, out, machines)
        finally:
            lock.release()
    finally:
        machines.close()


def _reported(config: TrainConfig, data: DataFiles, out: Path, machines: HeldRetrain | OneMachine) -> int:
    from digitnet.errors import DigitnetError
    from digitnet.files import remove_leftovers

    reporter = JobReporter(JobFiles(out), config, machines)
    for leftover in remove_leftovers(out):  # from a retrain killed while saving; the lock is ours
        log.info("Removed %s, left by a save that was interrupted", leftover)
    try:
        run, note = train_from_files(config, data, out, reporter)
        reporter.saving()
        save_shared(run, out)
    except DigitnetError as exc:
        reporter.finish(FAILED, f"Training failed: {exc}. The model in use is unchanged.")
        return 1
    except Exception as exc:  # the page must always learn how it ended
        log.exception("Training failed")
        reporter.finish(FAILED, f"Training failed unexpectedly: {exc!r}. The model in use is unchanged.")
        return 1
    reporter.finish(SUCCEEDED, f"Done: {_accuracies(run)}.{note} Everyone now uses the new model.",
                    run.test_accuracy)
    return 0


def save_shared(run, out: Path) -> None:
    """Save the run's model in `out`; with shared versions, as a new version every machine then uses,
    or not at all (SharedStateError) when the database cannot take it."""
    from digitnet.training.train import save_run

    versions = ModelStore(retrained_dir=out).versions
    if versions is None:
        save_run(run, out)
        return
    with tempfile.TemporaryDirectory(prefix="digitnet-save-") as saved:
        save_run(run, saved)
        versions.publish(Path(saved), out)


def train_from_files(config: TrainConfig, data: DataFiles, out: Path, reporter: JobReporter | None = None) -> tuple:
    """Load the data the settings ask for and train; with a reporter, say what happens on the way.

    Returns the TrainingRun and a note on the collected drawings (empty without them).
    """
    from digitnet.data.collected import collected_drawings, room_drawings, with_drawings
    from digitnet.state.room import Rooms
    from digitnet.data.mnist import load_mnist
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.training.recipe import mnist_split
    from digitnet.training.train import train

    mnist = load_mnist(data.mnist)
    pens = load_pen_collections(data.pendigits, data.unipen) if config.pen_digits else ()
    drawings = collected_drawings().load() if config.include_drawings else None
    if data.room:
        room = room_drawings(Rooms(), data.room)
        drawings = room if drawings is None else drawings.and_(room)
    if drawings is not None:
        mnist = with_drawings(mnist, drawings, config.drawing_repeats, config.seed)
    if reporter:
        used, validation = mnist_split(config, len(mnist.x_train))
        drawn = ", after drawing real people's pen digits to add to them" if pens else ""
        reporter.update(message=f"Training on {used - validation:,} images{drawn}...")
    run = train(config, mnist, pens, on_epoch_end=reporter.epoch if reporter else None,
                on_epoch_weights=reporter.keep_epoch if reporter else None)
    whose = "the room's" if data.room else "your"
    return run, _drawings_note(run, drawings, out, whose) if drawings is not None else ""


def _drawings_note(run, drawings, out: Path, whose: str) -> str:
    """How many of the test drawings (`whose`: "your" or "the room's") the model read right before and after."""
    from digitnet.data.collected import accuracy_on_test_drawings

    before = accuracy_on_test_drawings(ModelStore(retrained_dir=out).load().classifier, drawings)
    after = accuracy_on_test_drawings(Classifier.from_keras(run.model), drawings)
    if before is None:
        return ""
    return (f" On {whose} {len(drawings.y_test)} test drawings (never trained on): {before:.0%} before, "
            f"{after:.0%} after.")


def _accuracies(run) -> str:
    """The finished model's accuracy on MNIST and, when it has them, on the writers it never saw."""
    from digitnet.training.evaluate import Evaluation

    text = f"MNIST test accuracy {run.test_accuracy:.2%}"
    if run.held_out:
        text += f", real people it never saw {Evaluation.joined(run.held_out.values()).accuracy:.2%}"
    return text
