"""The network as Keras knows it: building it, saving it whole, loading it back."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import keras
from keras import layers

from digitnet.config import TrainConfig
from digitnet.errors import ModelFileError
from digitnet.files import replaced_whole
from digitnet.reading.classifier import INPUT_SHAPE, NUM_CLASSES, Classifier, save_weights, weights_path

log = logging.getLogger(__name__)


# Running several small batches per call into TensorFlow cuts Python overhead by a third; XLA's one
# compiled step cuts a training's steps by a further sixth.
FAST_STEPS = {"steps_per_execution": 8, "jit_compile": True}


def build_model(config: TrainConfig) -> keras.Sequential:
    """The seed's dense network: Flatten, two Dense(relu) layers, Dense(10, softmax)."""
    # Explicit names: Keras' automatic ones come from a per-thread counter, which has given two layers
    # the same name when two models were built in different threads of one process.
    model = keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE, name="pixels"),
            layers.Flatten(name="flatten"),
            layers.Dense(config.hidden_units, activation="relu", name="hidden_1"),
            layers.Dropout(config.dropout, name="dropout_1"),
            layers.Dense(config.hidden_units, activation="relu", name="hidden_2"),
            layers.Dropout(config.dropout, name="dropout_2"),
            layers.Dense(NUM_CLASSES, activation="softmax", name="probabilities"),
        ],
        name="digitnet",
    )
    compile_for_labels(model, config)
    return model


def compile_for_labels(model: keras.Model, config: TrainConfig) -> None:
    """The seed's training settings: Adam, sparse categorical cross-entropy, accuracy."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **FAST_STEPS,
    )


def load_keras_model(path: str | os.PathLike):
    """Load a .keras file in safe mode, turning every failure into a ModelFileError."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"No model file at {path}")
    if path.stat().st_size == 0:
        raise ModelFileError(f"The model file {path} is empty")
    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # Keras raises many unrelated types for a broken file.
        raise ModelFileError(f"Cannot load the model {path}: {exc}") from exc


def save_model(model, path: str | os.PathLike) -> None:
    """Save a model whole as `path` (.keras, for Keras) and its weights file beside it (for the page).

    Each is written to a temporary file and renamed over the old one; the weights come last, so the
    file the page watches only ever changes once the whole model is saved.
    """
    with replaced_whole(path) as tmp:
        model.save(tmp)
    save_weights(Classifier.from_keras(model), weights_path(path))
    log.info("Saved model to %s", path)
