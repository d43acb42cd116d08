"""A teacher for the page's network: small convolutional networks, stronger than the dense one, used
only while training. A retrain with `teacher` on learns from a mix of each image's label and the
teacher's softened answer on that image (Hinton, Vinyals and Dean 2015). `python -m digitnet
train-teacher` makes one; only the training process ever loads it, never the page's server.

The teacher reads each training image once, and its answers are cached: a retrain reads the same
images each time. The student then learns them on slightly moved views (a pixel, a few degrees),
which the teacher would answer almost alike. Answering every moved view anew, as Beyer et al. (2022)
do, read real people no better here and made a retrain nine times as long (docs/handwriting.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from digitnet.config import MODELS_DIR, TrainConfig, cache_dir
from digitnet.data.mnist import Mnist
from digitnet.data.pendigits import PenDigits
from digitnet.errors import ModelFileError
from digitnet.files import read_cached, replaced_whole
from digitnet.reading.classifier import INPUT_SHAPE, NUM_CLASSES
from digitnet.reading.preprocess import scale_pixels, upright
from digitnet.training.batches import training_batches
from digitnet.training.evaluate import Evaluation
from digitnet.training.recipe import Examples, TrainingSets, training_sets

log = logging.getLogger(__name__)

TEACHER_FILENAME = "teacher.keras"
SHIPPED_TEACHER = MODELS_DIR / TEACHER_FILENAME
TEACHER_ENV = "DIGITNET_TEACHER"  # another teacher file than the shipped one
ANSWER_CHUNK = 10_000  # images scaled to floats at a time: all 160,000 at once would be half a gigabyte


def teacher_path() -> Path:
    """The teacher a retrain learns from: $DIGITNET_TEACHER, else the shipped one."""
    return Path(os.environ.get(TEACHER_ENV) or SHIPPED_TEACHER)


def build_teacher(config: TrainConfig) -> keras.Sequential:
    """Three convolutions and a dense layer: about 1% of MNIST's test digits wrong where the dense
    network gets 1.2%, and more right of real people's pen digits."""
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="pixels"),
            layers.Reshape((*INPUT_SHAPE, 1), name="channel"),
            layers.Conv2D(32, 3, activation="relu", name="conv_1"),
            layers.Conv2D(32, 3, activation="relu", name="conv_2"),
            layers.MaxPooling2D(name="pool_1"),
            layers.Conv2D(64, 3, activation="relu", name="conv_3"),
            layers.MaxPooling2D(name="pool_2"),
            layers.Flatten(name="flatten"),
            layers.Dense(128, activation="relu", name="hidden"),
            layers.Dropout(0.3, name="dropout"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="digitnet_teacher",
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], steps_per_execution=8)
    return model


def load_teacher(path: Path | None = None) -> keras.Model:
    """The teacher at `path` (default: teacher_path()); ModelFileError saying how to make one."""
    from digitnet.training.model import load_keras_model

    return load_keras_model(_existing(path))


def _existing(path: Path | None) -> Path:
    """`path` (default: teacher_path()) if a file is there; else ModelFileError saying how to make one."""
    path = path or teacher_path()
    if not path.is_file():
        raise ModelFileError(f"No teacher at {path}: make one with `python -m digitnet train-teacher`")
    return path


def teacher_answers(images: np.ndarray, path: Path | None = None) -> np.ndarray:
    """The teacher's probabilities for each uint8 image (MNIST's form, upright), from the cache when this
    very teacher file has read these very images before."""
    path = _existing(path)
    key = hashlib.sha256(path.read_bytes())
    key.update(repr(images.shape).encode())
    key.update(np.ascontiguousarray(images).data)
    cached = cache_dir() / f"teacher-answers-{key.hexdigest()[:32]}.npy"
    answers = read_cached(cached, np.load)
    if answers is not None:
        return answers
    started = time.perf_counter()
    teacher = load_teacher(path)
    answers = np.concatenate([teacher.predict(scale_pixels(images[start : start + ANSWER_CHUNK]), batch_size=1000,
                                              verbose=0).astype(np.float32)
                              for start in range(0, len(images), ANSWER_CHUNK)])
    with replaced_whole(cached) as tmp:
        np.save(tmp, answers)
    log.info("The teacher read %d training images in %.0f s (cached in %s)", len(images),
             time.perf_counter() - started, cached)
    return answers


@dataclass(frozen=True)
class TeacherRun:
    """A trained teacher and how it reads what the student is measured on."""

    model: keras.Model
    test_accuracy: float  # MNIST's test digits
    held_out: dict[str, Evaluation]  # each pen collection's held-out writers
    seconds: float


def train_teacher(config: TrainConfig, data: Mnist, pens: Sequence[PenDigits] = (), epochs: int = 6,
                  members: int = 1) -> TeacherRun:
    """Train a teacher for `epochs` on what the student learns from (`config`'s recipe: the same images,
    pen digits and augmentation), and measure it as the student is measured. With several `members`,
    each is trained from its own seed and the teacher answers their average: an ensemble is right
    more often, and surer where they agree."""
    config.validate()
    started = time.perf_counter()
    sets = training_sets(config, data, pens)
    trained = [_fit_member(config.replace(seed=config.seed + n), sets, epochs) for n in range(members)]
    model = trained[0] if members == 1 else ensemble(trained)
    held_out = {name: _read(model, examples) for name, examples in sets.held_out.items()}
    run = TeacherRun(model, _read(model, sets.test).accuracy, held_out, time.perf_counter() - started)
    log.info("Teacher trained in %.0f s: MNIST test accuracy %.4f, held-out writers %s", run.seconds,
             run.test_accuracy, f"{Evaluation.joined(held_out.values()).accuracy:.4f}" if held_out else "none")
    return run


def _fit_member(config: TrainConfig, sets: TrainingSets, epochs: int) -> keras.Model:
    """One convolutional network fitted to `sets.train` from `config.seed`, with a cosine-decaying rate."""
    keras.utils.set_random_seed(config.seed)
    model = build_teacher(config)
    steps_per_epoch = -(-len(sets.train) // config.batch_size)
    model.optimizer.learning_rate = keras.optimizers.schedules.CosineDecay(
        config.learning_rate, decay_steps=epochs * steps_per_epoch, alpha=config.final_lr_fraction)
    model.fit(training_batches(sets.train.x, sets.train.y, config), epochs=epochs, steps_per_epoch=steps_per_epoch,
              validation_data=(scale_pixels(sets.validation.x), sets.validation.y), verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: log.info(
                  "Teacher (seed %d) epoch %d of %d: validation accuracy %.4f", config.seed, epoch + 1, epochs,
                  logs["val_accuracy"]))])
    return model


def ensemble(members: Sequence[keras.Model]) -> keras.Model:
    """One model that answers the average of the members' probabilities."""
    pixels = keras.Input(shape=INPUT_SHAPE, name="pixels")
    for n, member in enumerate(members):
        member.name = f"member_{n + 1}"  # each layer of a model needs a name of its own
    average = layers.Average(name="probabilities")([member(pixels) for member in members])
    return keras.Model(pixels, average, name="digitnet_teacher")


def save_teacher(run: TeacherRun, path: Path) -> None:
    """Write the teacher to `path`, replaced whole: its weights, without its optimizer's state (two
    thirds of the file, and of no use to a student)."""
    answering = keras.models.clone_model(run.model)
    answering.set_weights(run.model.get_weights())
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_whole(path) as tmp:
        answering.save(tmp)
    log.info("Saved the teacher to %s", path)


def _read(model: keras.Model, examples: Examples) -> Evaluation:
    """How the teacher reads `examples` (uint8, MNIST's form), made upright as the student's are."""
    probabilities = model.predict(upright(scale_pixels(examples.x)), batch_size=1000, verbose=0)
    return Evaluation(examples.y, probabilities, examples.writers, examples.refused)
