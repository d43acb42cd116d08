"""A retrain running in a background thread, one at a time, that any session can watch or cancel."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from digitnet.config import TrainConfig
from digitnet.corrections import Corrections, held_out_accuracy, with_drawings
from digitnet.data import Mnist, load_mnist
from digitnet.errors import DigitnetError, TrainingCancelled
from digitnet.model import Classifier
from digitnet.pendigits import PenDigits, load_pendigits
from digitnet.store import ModelStore
from digitnet.training import TrainingRun, train

log = logging.getLogger(__name__)

IDLE, RUNNING, SUCCEEDED, FAILED, CANCELLED = "idle", "running", "succeeded", "failed", "cancelled"


@dataclass(frozen=True)
class JobStatus:
    """A snapshot of the job, safe to read while training goes on."""

    state: str = IDLE
    config: TrainConfig | None = None
    epochs_done: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    message: str = ""
    started: float = 0.0
    test_accuracy: float | None = None

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
        elapsed = (now or time.monotonic()) - self.started
        return elapsed / self.epochs_done * (self.config.epochs - self.epochs_done)


class TrainingJob:
    """Runs digitnet.train in a plain thread (no UI calls) and saves the result as the model in use.

    Every method is thread-safe. A failed or cancelled run leaves the model in use untouched.
    """

    def __init__(self, store: ModelStore, load_data: Callable[[], Mnist] = load_mnist,
                 corrections: Corrections | None = None,
                 load_pen: Callable[[], PenDigits] = load_pendigits):
        self.store = store
        self.load_data = load_data
        self.load_pen = load_pen
        self.corrections = corrections
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._status = JobStatus()
        self._thread: threading.Thread | None = None

    def status(self) -> JobStatus:
        with self._lock:
            return self._status

    def start(self, config: TrainConfig) -> bool:
        """Start training with `config`; False if a training is already running."""
        config.validate()
        with self._lock:
            if self._status.running:
                return False
            self._cancel.clear()
            self._status = JobStatus(state=RUNNING, config=config, started=time.monotonic(),
                                     history={}, message="Loading the data...")
            self._thread = threading.Thread(target=self._run, args=(config,), name="digitnet-train", daemon=True)
            self._thread.start()
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the current run ends (or `timeout` seconds pass); return the status."""
        thread = self._thread
        if thread:
            thread.join(timeout)
        return self.status()

    def _run(self, config: TrainConfig) -> None:
        drawings_note = ""
        try:
            data = self.load_data()
            pen = self.load_pen() if config.pen_digits else None
            drawings = self.corrections.load() if config.include_drawings and self.corrections else None
            if drawings is not None:
                data = with_drawings(data, drawings, config.drawing_repeats, config.seed)
                before = held_out_accuracy(self.store.load().classifier, drawings)
            drawn = " and pen digits by real people" if pen else ""
            self._update(message=f"Training on {len(data.x_train):,} MNIST images{drawn}...")
            run = train(config, data, pen, on_epoch_end=self._record_epoch, should_stop=self._cancel.is_set)
            if drawings is not None and before is not None:
                after = held_out_accuracy(Classifier.from_keras(run.model), drawings)
                drawings_note = (f" On your {len(drawings.y_held)} held-out drawings: {before:.0%} before, "
                                 f"{after:.0%} after.")
            self._update(message="Saving the model...")
            self.store.save(run)
        except TrainingCancelled as exc:
            self._finish(CANCELLED, f"{exc}. The model in use is unchanged.")
        except (DigitnetError, ValueError, OSError) as exc:
            self._finish(FAILED, f"Training failed: {exc}. The model in use is unchanged.")
        except Exception as exc:  # the worker must always end in a state the page can show
            log.exception("Training failed")
            self._finish(FAILED, f"Training failed unexpectedly: {exc!r}. The model in use is unchanged.")
        else:
            self._finish(SUCCEEDED, f"Done: {_accuracies(run)}.{drawings_note} "
                                    "Everyone now uses the new model.", test_accuracy=run.test_accuracy)

    def _record_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        with self._lock:
            history = {name: [*self._status.history.get(name, []), value] for name, value in metrics.items()}
            self._status = dataclasses.replace(self._status, epochs_done=epoch, history=history,
                                    message=f"Epoch {epoch} of {self._status.config.epochs} done.")

    def _update(self, **changes) -> None:
        with self._lock:
            self._status = dataclasses.replace(self._status, **changes)

    def _finish(self, state: str, message: str, test_accuracy: float | None = None) -> None:
        log.info("Training %s: %s", state, message)
        self._update(state=state, message=message, test_accuracy=test_accuracy)


def _accuracies(run: TrainingRun) -> str:
    """The finished model's accuracy on MNIST and, when it has them, on the writers it never saw."""
    text = f"MNIST test accuracy {run.test_accuracy:.2%}"
    if run.held_out is not None:
        text += f", real people it never saw {run.held_out.accuracy:.2%}"
    return text
