"""Training a fresh model, with progress reports and cancellation, and saving the result."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Sequence

import keras
import numpy as np

from digitnet.config import CURVES_FILENAME, HISTORY_FILENAME, MODEL_FILENAME, TrainConfig
from digitnet.data.mnist import Mnist
from digitnet.data.pendigits import PenDigits
from digitnet.errors import TrainingCancelled
from digitnet.reading.classifier import NUM_CLASSES, Classifier
from digitnet.state.history import METRICS, ModelRecord, save_record
from digitnet.reading.preprocess import scale_pixels
from digitnet.training.calibration import fit_temperature, fold_temperature
from digitnet.training.evaluate import Evaluation, evaluate_drawings, evaluate_images, held_out_score
from digitnet.training.model import FAST_STEPS, build_model, compile_for_labels, save_model
from digitnet.training.plots import save_curves
from digitnet.training.recipe import TrainingSets, training_sets
from digitnet.training.batches import training_batches
from digitnet.training.teacher import teacher_answers

log = logging.getLogger(__name__)


EpochCallback = Callable[[int, dict[str, float]], None]
WeightsCallback = Callable[[int, Classifier], None]  # the network as it is after each epoch
StopCheck = Callable[[], bool]


@dataclass
class TrainingRun:
    """A trained Keras model and everything its history.json records."""

    model: object
    config: TrainConfig
    curves: dict[str, list[float]]  # each metric per epoch
    test_accuracy: float
    seconds: float
    sources: list[dict] = field(default_factory=list)
    # Each pen collection's held-out writers' drawings, read by the finished model, by collection name.
    held_out: dict[str, Evaluation] = field(default_factory=dict)
    temperature: float = 1.0
    trained_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def record(self) -> ModelRecord:
        """What its history.json records."""
        return ModelRecord(
            config=self.config, curves=self.curves, test_accuracy=self.test_accuracy,
            held_out_writers=held_out_score(self.held_out) if self.held_out else None, sources=tuple(self.sources),
            trained_at=self.trained_at, training_seconds=round(self.seconds, 1), temperature=self.temperature,
            weights=Classifier.from_keras(self.model).fingerprint)


def train(
    config: TrainConfig,
    data: Mnist,
    pens: Sequence[PenDigits] = (),
    on_epoch_end: EpochCallback | None = None,
    should_stop: StopCheck | None = None,
    on_epoch_weights: WeightsCallback | None = None,
) -> TrainingRun:
    """Train a fresh model on `data` (and the `pens` collections, if configured); report each epoch;
    raise TrainingCancelled if asked to stop."""
    config.validate()
    keras.utils.set_random_seed(config.seed)
    started = time.perf_counter()
    sets = training_sets(config, data, pens)
    validation = (scale_pixels(sets.validation.x), sets.validation.y)
    answers = teacher_answers(sets.train.x) if config.teacher else None
    progress = _Progress(config.epochs, on_epoch_end, should_stop, on_epoch_weights)
    model, curves = _fit(config, sets, validation, progress, answers)
    temperature = _calibrate(model, validation) if config.calibrate else 1.0
    seconds = time.perf_counter() - started
    classifier = Classifier.from_keras(model)
    test_accuracy = evaluate_images(classifier, sets.test.x, sets.test.y).accuracy
    held_out = {name: evaluate_drawings(classifier, drawings) for name, drawings in sets.held_out.items()}
    log.info("Trained %d epochs in %.1f s: MNIST test accuracy %.4f, held-out writers %s, temperature %.2f",
             config.epochs, seconds, test_accuracy,
             f"{Evaluation.joined(held_out.values()).accuracy:.4f}" if held_out else "none", temperature)
    return TrainingRun(model=model, config=config, curves=curves, test_accuracy=test_accuracy, seconds=seconds,
                       sources=sets.sources(data, pens, config), held_out=held_out, temperature=temperature)


def _fit(config: TrainConfig, sets: TrainingSets, validation: tuple[np.ndarray, np.ndarray], progress: "_Progress",
         answers: np.ndarray | None = None) -> tuple[keras.Model, dict[str, list[float]]]:
    """A fresh network fitted to `sets.train` (to the labels, or with the teacher's `answers` on each
    training image to soft_targets) with a cosine-decaying learning rate; it and its curves."""
    steps_per_epoch = -(-len(sets.train) // config.batch_size)
    model = build_model(config)
    schedule = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=config.epochs * steps_per_epoch, alpha=config.final_lr_fraction
    )
    if answers is None:
        model.optimizer.learning_rate = schedule
    else:  # soft targets: the loss and accuracy of whole distributions, the labels one-hot to validate
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=schedule), loss="categorical_crossentropy",
                      metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")], **FAST_STEPS)
        validation = (validation[0], keras.ops.one_hot(validation[1], NUM_CLASSES))
    history = model.fit(
        training_batches(sets.train.x, sets.train.y, config, answers),
        validation_data=validation,
        epochs=config.epochs,
        steps_per_epoch=steps_per_epoch,
        callbacks=[progress],
        shuffle=False,  # the dataset shuffles itself
        verbose=0,
    )
    if progress.cancelled:
        raise TrainingCancelled(f"Training was cancelled after {progress.epochs_done} complete epoch(s)")
    if answers is not None:
        compile_for_labels(model, config)  # saved as the seed's network is: sparse labels, accuracy
    return model, {m: [float(v) for v in history.history[m]] for m in METRICS}


def _calibrate(model: keras.Model, validation: tuple[np.ndarray, np.ndarray]) -> float:
    """Fit a temperature (1 or more: calibration only softens) on the validation images and fold it into
    the last layer; return it."""
    temperature = fit_temperature(Classifier.from_keras(model).predict_proba(validation[0]), validation[1])
    fold_temperature(model, temperature)
    return temperature


class _Progress(keras.callbacks.Callback):
    """Reports each epoch and stops between batches when asked."""

    def __init__(self, epochs: int, on_epoch_end: EpochCallback | None, should_stop: StopCheck | None,
                 on_epoch_weights: WeightsCallback | None = None):
        super().__init__()
        self.epochs = epochs
        self.report = on_epoch_end
        self.report_weights = on_epoch_weights
        self.should_stop = should_stop
        self.cancelled = False
        self.epochs_done = 0

    def on_train_batch_end(self, batch, logs=None):
        if self.should_stop and self.should_stop():
            self.cancelled = True
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.cancelled:
            return  # Keras ends the interrupted epoch too: it is not a complete one.
        self.epochs_done = epoch + 1
        metrics = {m: float(logs[m]) for m in METRICS if m in (logs or {})}
        log.info(
            "epoch %d/%d: accuracy %.4f, val_accuracy %.4f, loss %.4f, val_loss %.4f",
            epoch + 1, self.epochs, *(metrics.get(m, float("nan")) for m in METRICS),
        )
        if self.report_weights:
            self.report_weights(epoch + 1, Classifier.from_keras(self.model))
        if self.report:
            self.report(epoch + 1, metrics)


def save_run(run: TrainingRun, directory: str | os.PathLike) -> Path:
    """Write the model, then history.json and the curves PNG into `directory`, each file replaced whole.

    The model comes first, so that a history never describes a model that is not there: a save
    stopped in between leaves the new model beside the old history, whose recorded weights
    fingerprint then disagrees, and the page shows no curves rather than another model's.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / MODEL_FILENAME
    save_model(run.model, model_path)
    save_record(run.record(), directory / HISTORY_FILENAME)
    save_curves(run.curves, directory / CURVES_FILENAME)
    return model_path
