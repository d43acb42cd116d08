"""A retrain in its own process, one at a time across every app process that shares the models folder.

The page starts `python -m digitnet train --out <retrained folder> --report`, which holds a file lock
while it runs and writes its progress to a small status file beside the model, replaced whole. Any
page process that can read the folder sees the progress, can ask it to stop (a cancel file), and is
refused a second retrain while the lock is held. A crash, a kill or running out of memory ends the
process, which frees the lock: the page then says the retrain stopped, and the model in use is the
one it was, since a model is only ever replaced whole.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from digitnet.config import PREPARE_ENV, PREPARE_LOCK, TrainConfig, cache_dir, child_environment, data_dir
from digitnet.errors import TrainingError
from digitnet.files import replaced_whole
from digitnet.serving.classifier import Classifier, save_weights
from digitnet.serving.store import ModelStore

log = logging.getLogger(__name__)

IDLE, RUNNING, SUCCEEDED, FAILED, CANCELLED = "idle", "running", "succeeded", "failed", "cancelled"
STATUS_FILENAME = "training-status.json"
# How long a page waits for a new training process to take the lock (it does so before importing
# TensorFlow, within a second here) before calling the start failed.
START_TIMEOUT_S = 30.0
# How often a training process looks for a cancel request: Cancel acts within this.
CANCEL_POLL_S = 0.25
# A training process that has not ended this long after Cancel (frozen, say) is killed.
CANCEL_GRACE_S = 10.0
# Exit codes of a reported training process, besides 0 (saved) and 1 (failed).
BUSY_EXIT, CANCELLED_EXIT = 3, 4


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of a retrain, as its process last wrote it."""

    state: str = IDLE
    config: TrainConfig | None = None
    epochs_done: int = 0
    curves: dict[str, list[float]] = field(default_factory=dict)  # the per-epoch metrics so far
    message: str = ""
    started: float = 0.0  # wall-clock time (time.time()), the same for every process that reads it
    test_accuracy: float | None = None
    pid: int | None = None

    @property
    def running(self) -> bool:
        return self.state == RUNNING

    @property
    def fraction_done(self) -> float:
        return self.epochs_done / self.config.epochs if self.config else 0.0

    def seconds_left(self, now: float | None = None) -> float | None:
        """Estimated from the time the finished epochs took; None before the first one."""
        if not self.running or self.epochs_done == 0:
            return None
        elapsed = (now or time.time()) - self.started
        return elapsed / self.epochs_done * (self.config.epochs - self.epochs_done)

    def to_json(self) -> dict:
        record = dataclasses.asdict(self)
        record["config"] = self.config.to_json() if self.config else None
        return record

    @classmethod
    def from_json(cls, record: dict) -> "JobStatus":
        config = record.get("config")
        return cls(**{**record, "config": TrainConfig.from_json(config) if config else None})


@dataclass(frozen=True)
class JobFiles:
    """The files beside the retrained model through which a training process and the pages talk."""

    folder: Path

    @property
    def status_path(self) -> Path:
        return self.folder / STATUS_FILENAME

    @property
    def cancel_path(self) -> Path:
        return self.folder / "training.cancel"

    @property
    def epochs_folder(self) -> Path:
        """The network's weights after each epoch of the current or last retrain (about 470 KB each)."""
        return self.folder / "training-epochs"

    def epoch_path(self, epoch: int) -> Path:
        return self.epochs_folder / f"epoch-{epoch:03d}.npz"

    def epoch_files(self) -> list[tuple[int, Path, float]]:
        """(epoch, weights file, its modification time) of the epochs finished so far, in order. Files
        named otherwise are not ours; one that a new retrain removed since the listing is left out."""
        epochs = []
        for path in sorted(self.epochs_folder.glob("epoch-[0-9][0-9][0-9].npz")):
            try:
                epochs.append((int(path.stem.removeprefix("epoch-")), path, path.stat().st_mtime))
            except FileNotFoundError:
                continue
        return epochs

    def lock(self) -> FileLock:
        # An OS lock (flock): the system frees it when its process ends, however it ends.
        self.folder.mkdir(parents=True, exist_ok=True)
        return FileLock(self.folder / "training.lock")

    def is_busy(self) -> bool:
        """Whether a retrain runs now: a process holds the lock, or the process the status names is a
        live training (its lock file may have been deleted under it)."""
        if self.is_locked():
            return True
        status = self.read()
        return status.running and is_training_process(status.pid)

    def is_locked(self) -> bool:
        """Whether a training process holds the lock now."""
        lock = self.lock()
        try:
            lock.acquire(timeout=0)
        except Timeout:
            return True
        lock.release()
        return False

    def read(self) -> JobStatus:
        try:
            record = json.loads(self.status_path.read_text())
            if not isinstance(record, dict):
                raise ValueError(f"not a JSON object but {type(record).__name__}")
            return JobStatus.from_json(record)
        except FileNotFoundError:
            return JobStatus()
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            log.warning("Unreadable training status %s: %s", self.status_path, exc)
            return JobStatus()

    def write(self, status: JobStatus) -> None:
        with replaced_whole(self.status_path) as tmp:
            tmp.write_text(json.dumps(status.to_json()))


class TrainingJob:
    """What a page knows of the retrain: start one, watch it, cancel it."""

    def __init__(self, store: ModelStore, env: dict[str, str] | None = None):
        self.store = store
        self.files = JobFiles(store.retrained_dir)
        self.env = env
        self._child: subprocess.Popen | None = None

    def status(self) -> JobStatus:
        status = self.files.read()
        if not status.running and self._child_runs():
            # Its files are gone (the folder deleted under it), yet the process this page started runs on.
            return JobStatus(state=RUNNING, message="Retraining (its progress file is missing)...",
                             pid=self._child.pid)
        if status.running and not self.files.is_busy():
            # It said it was running, yet its lock is free: the process is gone.
            return dataclasses.replace(status, state=FAILED, message=(
                "The retrain stopped unexpectedly (killed, or out of memory?). The model in use is unchanged."))
        return status

    def start(self, config: TrainConfig, room: str | None = None) -> bool:
        """Start a training process with `config` (also on the drawings of the room `room`); False if a
        retrain is already running anywhere, TrainingError if the process ends before it begins (an
        unwritable models folder, say)."""
        config.validate()
        try:
            if self._child_runs() or self.files.is_busy():
                return False
            self.files.cancel_path.unlink(missing_ok=True)
        except OSError as exc:
            raise TrainingError(f"The retrain cannot use the folder {self.files.folder}: {exc.strerror}. "
                                "The model in use is unchanged.") from exc
        self._child = subprocess.Popen(
            [sys.executable, "-m", "digitnet", "train", "--out", str(self.store.retrained_dir), "--report",
             *config_flags(config), *(["--room", room] if room else [])],
            env=child_environment(self.env), stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and self._child.poll() is None:
            status = self.files.read()
            if status.pid == self._child.pid and status.running:
                return True
            time.sleep(0.05)
        if self._child.poll() == BUSY_EXIT:
            return False  # another page's retrain took the lock first
        if self._child.poll() is None:
            self._child.kill()
        raise TrainingError(f"The retrain could not start (exit code {self._child.wait()}); "
                            "the server's log says why. The model in use is unchanged.")

    def cancel(self) -> None:
        """Ask the retrain to stop; kill it if it has not within CANCEL_GRACE_S (a frozen process)."""
        self.files.cancel_path.touch()
        pid = self.files.read().pid or (self._child.pid if self._child_runs() else None)
        if pid is not None:
            threading.Thread(target=self._end_if_deaf, args=(pid,), name="digitnet-cancel-check",
                             daemon=True).start()

    def _end_if_deaf(self, pid: int) -> None:
        deadline = time.monotonic() + CANCEL_GRACE_S
        while time.monotonic() < deadline:
            if not is_training_process(pid):
                return
            time.sleep(0.1)
        log.warning("The retrain (process %d) did not stop when asked to: killing it", pid)
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            return
        if self._child is not None and self._child.pid == pid:
            self._child.wait(10)
        self.files.cancel_path.unlink(missing_ok=True)
        self.files.write(JobStatus(state=CANCELLED, message=(
            "The retrain did not answer Cancel and was stopped. The model in use is unchanged.")))

    def _child_runs(self) -> bool:
        """Whether the training process this page started is still running."""
        return self._child is not None and self._child.poll() is None

    def forget(self) -> None:
        """Forget how the last retrain ended (once its model is gone, its message is no longer true)."""
        if not self.status().running:
            self.files.status_path.unlink(missing_ok=True)

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until no retrain runs (or `timeout` seconds pass); return the status."""
        deadline = time.monotonic() + (timeout if timeout is not None else float("inf"))
        while time.monotonic() < deadline and self.status().running:
            time.sleep(0.1)
        if self._child is not None and self._child.poll() is None and not self.status().running:
            self._child.wait(10)  # its last status is written: it is only exiting
        return self.status()


def is_training_process(pid: int | None) -> bool:
    """Whether `pid` is a live `python -m digitnet train` process (read from /proc)."""
    if not pid:
        return False
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False  # gone (a zombie's command line is empty, too)
    return b"digitnet" in arguments and b"train" in arguments


def config_flags(config: TrainConfig) -> list[str]:
    """The command-line flags of `python -m digitnet train` that give `config`."""
    flags = []
    for name, value in config.to_json().items():
        name = name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(f"--{name}" if value else f"--no-{name}")
        else:
            flags += [f"--{name}", str(value)]
    return flags


class JobReporter:
    """The training process's side: writes its status for the pages, and stops when one asks.

    Cancellation is watched from a thread, so it also stops the minutes before the first epoch
    (loading and drawing the data); only the save, once begun, is let finish, so that the model,
    its history and its weights stay of one piece.
    """

    def __init__(self, files: JobFiles, config: TrainConfig):
        self.files = files
        self._guard = threading.Lock()
        self._saving = False
        self._status = JobStatus(state=RUNNING, config=config, started=time.time(), pid=os.getpid(),
                                 message="Loading the data...")
        self.files.write(self._status)
        shutil.rmtree(self.files.epochs_folder, ignore_errors=True)  # the last run's epochs
        threading.Thread(target=self._watch_for_cancel, name="digitnet-cancel", daemon=True).start()

    def update(self, **changes) -> None:
        with self._guard:
            self._status = dataclasses.replace(self._status, **changes)
            self.files.write(self._status)

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
                if not self.files.cancel_path.exists():
                    continue
                done = self._status.epochs_done
                self._status = dataclasses.replace(self._status, state=CANCELLED, message=(
                    f"Training was cancelled after {done} complete epoch{'' if done == 1 else 's'}. "
                    "The model in use is unchanged."))
                self.files.write(self._status)
                self.files.cancel_path.unlink(missing_ok=True)
            log.info("Training cancelled")
            os._exit(CANCELLED_EXIT)  # at once, wherever it was; nothing of the run was saved


def start_preparing_drawings(env: dict[str, str] | None = None) -> subprocess.Popen | None:
    """Start `python -m digitnet prepare` (draws the pen digits a retrain needs into the cache, at the
    lowest priority, one at a time), so that a retrain from the page skips the drawing; None when
    $DIGITNET_PREPARE is "0" or it cannot start. Its log is prepare.log in the cache."""
    env = child_environment(env)
    if env.get(PREPARE_ENV) == "0":
        return None
    folder = cache_dir(env)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "prepare.log").open("ab") as log_file:
            process = subprocess.Popen([sys.executable, "-m", "digitnet", "prepare"], env=env,
                                       stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    except OSError as exc:
        log.warning("Could not start drawing the pen digits in the background: %s", exc)
        return None
    threading.Thread(target=process.wait, daemon=True).start()  # reaped when it ends
    return process


def prepare_in_background(pendigits: Path | None = None, unipen: Path | None = None) -> None:
    """The side of `python -m digitnet prepare`: at the lowest priority, under the cache's lock (or not
    at all when another process holds it), draw the pen digits a retrain with the model in use's
    settings needs; stop when the page server that started it is gone."""
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.training.recipe import prepare_drawings

    os.nice(19)  # the drawing workers inherit it: a room's strokes come first
    _exit_when_orphaned()
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / PREPARE_LOCK)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.info("The pen digits are already being drawn (%s is held)", lock.lock_file)
        return
    try:
        started = time.perf_counter()
        prepare_drawings(ModelStore().settings_in_use(), load_pen_collections(pendigits, unipen))
        log.info("The pen digits of the model in use's recipe are drawn and cached in %s (%.0f s)", folder,
                 time.perf_counter() - started)
    finally:
        lock.release()


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


# The training process's whole run, from the lock to the last status. Its imports wait until they are
# needed: the page imports this module for TrainingJob, and must not load TensorFlow or the drawing code.


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
    files = JobFiles(out)
    lock = files.lock()
    try:
        lock.acquire(timeout=0)
    except Timeout:
        log.error("error: another retrain is running (it holds %s)", lock.lock_file)
        return BUSY_EXIT
    other = files.read()
    if other.running and other.pid != os.getpid() and is_training_process(other.pid):
        lock.release()  # its lock file was deleted under it: the process is what counts
        log.error("error: another retrain is running (process %d)", other.pid)
        return BUSY_EXIT
    try:
        return _reported(config, data, out)
    finally:
        lock.release()


def _reported(config: TrainConfig, data: DataFiles, out: Path) -> int:
    from digitnet.errors import DigitnetError
    from digitnet.files import remove_leftovers

    reporter = JobReporter(JobFiles(out), config)
    for leftover in remove_leftovers(out):  # from a retrain killed while saving; the lock is ours
        log.info("Removed %s, left by a save that was interrupted", leftover)
    try:
        from digitnet.training.train import save_run  # TensorFlow is imported only here, once the lock is held

        run, note = train_from_files(config, data, out, reporter)
        reporter.saving()
        save_run(run, out)
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


def train_from_files(config: TrainConfig, data: DataFiles, out: Path, reporter: JobReporter | None = None) -> tuple:
    """Load the data the settings ask for and train; with a reporter, say what happens on the way.

    Returns the TrainingRun and a note on the collected drawings (empty without them).
    """
    from digitnet.data.collected import CollectedDrawings, room_drawings, with_drawings
    from digitnet.serving.room import Rooms
    from digitnet.data.mnist import load_mnist
    from digitnet.data.pendigits import load_pen_collections
    from digitnet.training.recipe import mnist_split
    from digitnet.training.train import train

    mnist = load_mnist(data.mnist)
    pens = load_pen_collections(data.pendigits, data.unipen) if config.pen_digits else ()
    drawings = CollectedDrawings(data_dir()).load() if config.include_drawings else None
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
