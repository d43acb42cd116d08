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
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock, Timeout

from digitnet.config import TrainConfig, child_environment
from digitnet.errors import TrainingError
from digitnet.files import replaced_whole
from digitnet.state.store import ModelStore

if TYPE_CHECKING:
    from digitnet.training.shared import RetrainBoard

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

    def __init__(self, store: ModelStore, env: dict[str, str] | None = None, board: RetrainBoard | None = None):
        self.store = store
        self.files = JobFiles(store.retrained_dir)
        self.env = env
        self.board = board  # with a database: the retrains of the other machines
        self._child: subprocess.Popen | None = None

    def status(self) -> JobStatus:
        status = self._status_here()
        if self.board is not None and not status.running:
            elsewhere = self.board.status()
            if elsewhere is not None and (elsewhere.running or elsewhere.started > status.started):
                return elsewhere
        return status

    def _running_elsewhere(self) -> bool:
        """Whether another machine runs a retrain (a database's board says so)."""
        elsewhere = self.board.status() if self.board is not None else None
        return elsewhere is not None and elsewhere.running

    def _status_here(self) -> JobStatus:
        """The retrain of this machine, as its files say."""
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
            if self._child_runs() or self.files.is_busy() or self._running_elsewhere():
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
        if self.board is not None:
            self.board.ask_to_stop()
        self.files.cancel_path.touch()
        pid = self.files.read().pid or (self._child.pid if self._child_runs() else None)  # of this machine
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
            if self.board is not None:
                self.board.forget()

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
